"""Build the minekit sample retrieval data set.

Writes three parquet files next to this script:

    queries.parquet    query_id, text
    corpus.parquet     doc_id, title, text
    positives.parquet  query_id, doc_id, score  (2 = answers directly, 1 = partially)

The data is organised in topics. Each topic has one query, one to three
passages that answer it (the positives) and several passages on the same
subject that share much of the query's vocabulary but do not answer it
(hard negatives). A handful of filler passages belong to no query.

Doc ids are assigned after sorting every passage by the SHA-256 of its text,
so the id order says nothing about topic or relevance.

Output is deterministic. Run from the repository root:

    python sample_data/make_sample.py
"""

import hashlib
from pathlib import Path

import polars as pl

OUT_DIR = Path(__file__).resolve().parent

# Each topic: a query, its positives as (score, title, text) and its
# same-topic negatives as (title, text).
TOPICS = [
    # --- cooking ---------------------------------------------------------
    {
        "query": "how long to boil an egg for a soft runny yolk",
        "positives": [
            (2, "Soft-boiled egg",
             "A soft-boiled egg has a set white and a runny yolk. For a large egg taken straight from the refrigerator, lower it into water that is already at a rolling boil and cook for about six minutes, then move it to cold water to stop the cooking. Five minutes gives a very loose yolk, while seven minutes gives a jammy centre."),
            (1, "Egg cooking times",
             "How long to boil an egg depends on its size, its starting temperature and the altitude. Small eggs need roughly a minute less than large ones to reach the same soft or firm yolk, and eggs at room temperature cook faster than chilled ones. At high altitude water boils below 100 °C, so eggs take longer to reach the same texture."),
        ],
        "negatives": [
            ("Egg nutrition",
             "A large chicken egg contains about 6 grams of protein and roughly 70 to 80 kilocalories. The yolk holds most of the fat, along with vitamins A, D and B12, choline and the carotenoids lutein and zeaxanthin. The white is mostly water and protein, chiefly ovalbumin."),
            ("Poached egg",
             "To poach an egg, crack it into a cup and slide it into water held just below a simmer. Fresh eggs hold together best, because their thick white sets around the yolk instead of spreading. A splash of vinegar in the water helps the white coagulate faster. Poaching usually takes three to four minutes."),
            ("Cooking pasta",
             "Pasta should be boiled in plenty of well-salted water, roughly one litre for every 100 grams of dry pasta. Most dried shapes need between eight and twelve minutes; the packet time is a guide, and tasting a piece is the most reliable test. Fresh egg pasta cooks in only two to three minutes."),
            ("Egg allergy",
             "Egg allergy is one of the most common food allergies in young children, and many outgrow it by school age. Reactions are usually triggered by proteins in the egg white, such as ovomucoid. Some people who react to raw egg can tolerate egg that has been thoroughly baked into foods such as cakes."),
            ("Hard-boiled egg",
             "Hard-boiled eggs are cooked until both white and yolk are firm, typically ten to twelve minutes for a large egg. Overcooking produces a greenish ring around the yolk, caused by iron in the yolk reacting with hydrogen sulfide from the white. Very fresh eggs are harder to peel after boiling than eggs a week or two old."),
            ("Egg cup",
             "Egg cups, small vessels for holding a boiled egg upright at the table, have been found in the ruins of Pompeii and became common household items in Europe by the eighteenth century. They have been made in silver, porcelain, wood and later plastic. Collecting them is a hobby known as pocillovy."),
        ],
    },
    # --- health ----------------------------------------------------------
    {
        "query": "what is a normal blood pressure reading for an adult",
        "positives": [
            (2, "Blood pressure categories",
             "For adults, a blood pressure reading below 120 mm Hg systolic and below 80 mm Hg diastolic is classed as normal by the American Heart Association. Readings of 120 to 129 systolic with a diastolic value under 80 are termed elevated, and 130/80 or higher falls into the range of hypertension."),
        ],
        "negatives": [
            ("Systolic and diastolic pressure",
             "A blood pressure measurement is written as two numbers, such as 118/76. The first, systolic pressure, is the pressure in the arteries when the heart contracts; the second, diastolic pressure, is the pressure while the heart relaxes between beats. Both are recorded in millimetres of mercury, abbreviated mm Hg."),
            ("Hypotension",
             "Low blood pressure, or hypotension, is often defined as a reading below about 90/60 mm Hg. Many healthy adults have low readings without any symptoms, but a sudden drop can cause dizziness or fainting, particularly when standing up quickly. Dehydration, blood loss and some medications are common causes."),
            ("Sphygmomanometer",
             "The sphygmomanometer, or blood pressure cuff, was developed by Scipione Riva-Rocci in 1896. An inflatable cuff around the upper arm compresses the brachial artery, and pressure is released while a clinician listens with a stethoscope for Korotkoff sounds. Automated digital monitors use an oscillometric method instead."),
            ("Treatment of hypertension",
             "Treatment of high blood pressure usually starts with lifestyle changes: eating less salt, losing excess weight, regular physical activity and limiting alcohol. When medication is needed, common first-line drugs include thiazide diuretics, ACE inhibitors, angiotensin receptor blockers and calcium channel blockers."),
            ("White coat hypertension",
             "Some people have higher blood pressure readings in a clinic than at home, a pattern called white coat hypertension. It is thought to reflect anxiety about the medical setting. Doctors may confirm a diagnosis with home monitoring or with ambulatory monitoring, in which a portable device records pressure over 24 hours."),
            ("Blood pressure in children",
             "Normal blood pressure in children is lower than in adults and rises with age and height. Instead of a single cut-off, paediatric readings are compared against percentile tables for the child's sex, age and height. A reading at or above the 95th percentile on repeated visits suggests hypertension."),
            ("Pre-eclampsia",
             "Pre-eclampsia is a pregnancy complication marked by new high blood pressure, usually after 20 weeks, often with protein in the urine. It can affect the kidneys, liver and brain, and the only definitive cure is delivery of the baby and placenta. Regular pressure checks at antenatal visits help detect it early."),
        ],
    },
    # --- astronomy -------------------------------------------------------
    {
        "query": "why is Pluto no longer considered a planet",
        "positives": [
            (2, "Reclassification of Pluto",
             "In 2006 the International Astronomical Union defined a planet as a body that orbits the Sun, is massive enough to be nearly round, and has cleared the neighbourhood around its orbit. Pluto meets the first two conditions but not the third, since it shares its region with many Kuiper belt objects, so it was reclassified as a dwarf planet."),
            (1, "Eris",
             "Eris, a distant body found in 2005 by a team led by Mike Brown, initially appeared to be larger than Pluto. Its discovery forced astronomers to decide whether Eris should become the tenth planet or whether Pluto itself should be reconsidered, a debate that led directly to the IAU vote of 2006."),
        ],
        "negatives": [
            ("Discovery of Pluto",
             "Pluto was discovered in February 1930 by Clyde Tombaugh at Lowell Observatory in Flagstaff, Arizona. He found it by comparing photographic plates taken several nights apart with a blink comparator, looking for a faint point that shifted against the background stars. The name was suggested by Venetia Burney, an eleven-year-old schoolgirl in Oxford."),
            ("New Horizons",
             "NASA's New Horizons spacecraft flew past Pluto on 14 July 2015 after a journey of more than nine years. Its images revealed a large, bright plain of nitrogen ice later named Sputnik Planitia, mountains of water ice and a thin, hazy atmosphere. The probe went on to visit the Kuiper belt object Arrokoth in 2019."),
            ("Charon",
             "Charon, Pluto's largest moon, is about half Pluto's diameter, so large that the two bodies orbit a shared centre of mass lying in the space between them. They are tidally locked, each always showing the same face to the other. Pluto has four smaller moons: Nix, Hydra, Kerberos and Styx."),
            ("Orbit of Pluto",
             "Pluto's orbit is strongly elliptical and tilted about 17 degrees to the plane of the planets. For about twenty years of each 248-year orbit it is closer to the Sun than Neptune is; this last happened between 1979 and 1999. A 3:2 orbital resonance with Neptune keeps the two bodies from ever colliding."),
            ("Dwarf planet",
             "The IAU currently recognises five dwarf planets: Ceres, Pluto, Haumea, Makemake and Eris. Ceres lies in the asteroid belt, while the others orbit beyond Neptune. Many astronomers think that dozens more bodies in the outer solar system, such as Gonggong and Quaoar, may also qualify."),
            ("Planet Nine",
             "Planet Nine is a hypothetical large planet proposed in 2016 to explain the unusual clustering of the orbits of some distant trans-Neptunian objects. If it exists, it would be several times the mass of Earth and orbit far beyond Neptune. Searches by survey telescopes have not yet detected it."),
        ],
    },
    # --- history ---------------------------------------------------------
    {
        "query": "what year did the Berlin Wall fall",
        "positives": [
            (2, "Fall of the Berlin Wall",
             "The Berlin Wall fell on the night of 9 November 1989, when East German authorities unexpectedly announced that citizens could cross the border. Crowds gathered at the checkpoints, guards opened the gates, and people began chipping away at the wall itself. The event led to German reunification less than a year later, on 3 October 1990."),
        ],
        "negatives": [
            ("Construction of the Berlin Wall",
             "Construction of the Berlin Wall began on 13 August 1961, when East German troops and workers closed the border overnight with barbed wire and fences. The barrier was meant to stop the mass emigration of East Germans to the West through Berlin. It was later rebuilt as a concrete wall with a guarded death strip."),
            ("Berlin Wall Memorial",
             "The Berlin Wall Memorial on Bernauer Strasse preserves a stretch of the original wall together with the border strip and a watchtower. Its open-air exhibition records escapes, tunnels and the deaths of people who tried to cross. A visitor centre and a viewing platform show how the fortifications divided the street."),
            ("Checkpoint Charlie",
             "Checkpoint Charlie was the best-known crossing point through the Berlin Wall during the Cold War, used mainly by diplomats, foreigners and Allied personnel. In October 1961 American and Soviet tanks faced each other there for several hours. The original guard hut is now kept in a museum, and a replica stands on the street."),
            ("Berlin Blockade",
             "From June 1948 to May 1949 the Soviet Union blocked all road, rail and canal access to the western sectors of Berlin. The Western Allies responded with the Berlin Airlift, flying in food, coal and other supplies for more than two million residents. The blockade ended when the Soviets reopened the routes."),
            ("Inner German border",
             "Beyond the Berlin Wall, the inner German border stretched about 1,400 kilometres from the Baltic Sea to Czechoslovakia, separating East and West Germany. It was fortified with fences, minefields and watchtowers. Long sections have since become the Green Belt, a nature corridor that follows the line of the former border strip."),
            ("Revolutions of 1989",
             "The year 1989 saw communist governments fall across Central and Eastern Europe. Poland held partly free elections in June, Hungary opened its border with Austria, and Czechoslovakia's Velvet Revolution unfolded in November and December. In Romania the regime of Nicolae Ceaușescu was overthrown violently in December."),
        ],
    },
    # --- programming -----------------------------------------------------
    {
        "query": "difference between a list and a tuple in Python",
        "positives": [
            (2, "Tuples and lists in Python",
             "In Python, the main difference between a list and a tuple is mutability. A list can be changed after it is created: items can be appended, removed or replaced. A tuple is immutable, so its contents are fixed once it exists. Because of this, a tuple can serve as a dictionary key when its items are hashable, while a list cannot."),
        ],
        "negatives": [
            ("Python list methods",
             "Python lists provide methods such as append, extend, insert, remove, pop, sort and reverse. The sort method orders a list in place and returns None, whereas the built-in sorted function returns a new list. Appending to the end of a list runs in amortised constant time."),
            ("Python dictionaries",
             "A Python dictionary maps keys to values and is written with curly braces, as in {'a': 1}. Since Python 3.7, dictionaries preserve the order in which keys were inserted. Lookups, insertions and deletions take constant time on average, because dictionaries are implemented as hash tables."),
            ("List comprehension",
             "A list comprehension builds a new list from an iterable in a single expression, for example [x * x for x in range(10) if x % 2 == 0]. Comprehensions are often more readable than an equivalent loop with append. Similar syntax creates sets and dictionaries, and parentheses produce a generator expression rather than a tuple."),
            ("Named tuples",
             "The collections module in Python's standard library provides namedtuple, a factory for tuple subclasses whose fields can be accessed by name as well as by position. The typing module offers NamedTuple for writing the same thing as a class with type annotations. Named tuple instances need no more memory than regular tuples."),
            ("Tuple (mathematics)",
             "In mathematics, a tuple is a finite ordered list of elements. An n-tuple is a sequence of n elements; a pair is a 2-tuple and a triple is a 3-tuple. Unlike a set, a tuple may contain the same element more than once, and the order of its elements matters."),
            ("NumPy arrays",
             "For large amounts of numeric data, Python programmers often use NumPy arrays rather than lists. A NumPy array stores elements of a single data type in contiguous memory, which makes vectorised arithmetic much faster and more compact. The standard library's array module offers a simpler typed array for basic numeric types."),
        ],
    },
    # --- finance ---------------------------------------------------------
    {
        "query": "how do you calculate compound interest on savings",
        "positives": [
            (2, "Compound interest formula",
             "Compound interest is calculated with the formula A = P(1 + r/n)^(nt), where P is the principal, r the annual interest rate as a decimal, n the number of compounding periods per year and t the number of years. For example, 1,000 dollars at 5 percent compounded annually grows to about 1,276 dollars after five years."),
            (1, "Compounding frequency",
             "The more often interest is compounded, the faster a savings balance grows, because each period's interest starts earning interest of its own. Monthly compounding yields slightly more than annual compounding at the same nominal rate, which is why banks quote an annual percentage yield (APY) that reflects the effect of compounding."),
        ],
        "negatives": [
            ("Simple interest",
             "Simple interest is charged or earned only on the original principal. It is found by multiplying the principal by the annual rate and the number of years, so 1,000 dollars at 5 percent for three years earns 150 dollars. Simple interest is common on short-term personal loans and some car loans."),
            ("Rule of 72",
             "The rule of 72 is a shortcut for estimating how long an investment takes to double. Dividing 72 by the annual interest rate gives the approximate number of years, so money growing at 6 percent doubles in about twelve years. The rule is most accurate for rates between about 6 and 10 percent."),
            ("Savings account",
             "A savings account is a deposit account at a bank or credit union that pays interest on the balance. In many countries deposits are protected up to a limit by a government guarantee scheme, such as the FDIC in the United States. Some accounts limit the number of withdrawals allowed each month."),
            ("Credit card interest",
             "Credit card interest is usually expressed as an annual percentage rate but charged on the average daily balance. If the full statement balance is not paid by the due date, interest accrues on the unpaid amount, and unpaid interest can be added to the balance, so debt grows quickly."),
            ("History of interest",
             "Charging interest on loans is recorded in Mesopotamian law codes, including the Code of Hammurabi, which set maximum rates for loans of grain and silver. Medieval Christian and Islamic authorities condemned usury, and rules on lending at interest shaped banking in Europe and the Middle East for centuries."),
            ("Inflation and savings",
             "Inflation reduces the purchasing power of money held in savings. If a savings account pays 2 percent interest while prices rise by 4 percent a year, the real return is roughly minus 2 percent. Economists therefore distinguish the nominal interest rate from the real interest rate, which is adjusted for inflation."),
        ],
    },
    # --- sport -----------------------------------------------------------
    {
        "query": "what is the offside rule in football",
        "positives": [
            (2, "Offside (association football)",
             "In association football, a player is in an offside position if any part of the head, body or feet is in the opponents' half and nearer to their goal line than both the ball and the second-last opponent. Being in that position is not an offence in itself; the player is penalised only on becoming involved in active play when a teammate plays the ball."),
        ],
        "negatives": [
            ("Video assistant referee",
             "The video assistant referee (VAR) system reviews decisions on goals, penalties, direct red cards and mistaken identity in football. First used at a FIFA World Cup in 2018, it lets the referee watch replays on a pitchside monitor. Semi-automated technology has since been used to judge tight offside decisions more quickly."),
            ("Laws of the Game",
             "The Laws of the Game are the rules of association football, maintained by the International Football Association Board (IFAB), founded in 1886. There are seventeen laws, covering subjects from the dimensions of the field and the ball to offside, fouls and misconduct, free kicks and penalty kicks."),
            ("Offside (rugby union)",
             "In rugby union, a player in open play is offside when in front of a teammate who is carrying the ball or last played it. At rucks and mauls an offside line runs through the hindmost foot of the players involved. An offside player must not take part in the game until put onside, or a penalty may be awarded."),
            ("Offside trap",
             "The offside trap is a defensive tactic in which defenders step forward together just before an opponent passes, leaving attackers stranded. It demands close coordination and carries a risk: if one defender is slow to move, an attacker may be left clear on goal. Arrigo Sacchi's AC Milan side of the late 1980s was famous for it."),
            ("Yellow and red cards",
             "Football referees show a yellow card to caution a player and a red card to send a player off. Two yellow cards in the same match result in a red card. The system was devised by the English referee Ken Aston and first used at the 1970 World Cup in Mexico."),
            ("Offside (ice hockey)",
             "In ice hockey, a team is offside if an attacking player crosses the opponent's blue line into the attacking zone before the puck does. Play stops and a faceoff is held outside the zone. Many leagues use a delayed offside rule, letting play continue if the attacking players clear the zone."),
        ],
    },
    # --- geography -------------------------------------------------------
    {
        "query": "what is the longest river in Africa",
        "positives": [
            (2, "Nile",
             "The Nile is the longest river in Africa, flowing about 6,650 kilometres northward to the Mediterranean Sea. Its two main branches, the White Nile and the Blue Nile, meet at Khartoum in Sudan. It has long been regarded as the longest river in the world, although some measurements give that title to the Amazon."),
        ],
        "negatives": [
            ("Congo River",
             "The Congo is the deepest river in the world, with measured depths of more than 220 metres, and the second longest river in Africa. Its basin covers about four million square kilometres of Central Africa, and by the volume of water it carries it is the continent's largest river, exceeded worldwide only by the Amazon."),
            ("Niger River",
             "The Niger River rises in the Guinea Highlands only about 240 kilometres from the Atlantic, yet flows inland to the northeast through Mali before turning south across Niger and Nigeria to the Gulf of Guinea. Its inner delta in Mali is a vast seasonal wetland. At about 4,180 kilometres, it is the third longest river in Africa."),
            ("Zambezi",
             "The Zambezi, about 2,570 kilometres long, is the fourth longest river in Africa and the largest African river flowing into the Indian Ocean. It plunges over Victoria Falls on the border between Zambia and Zimbabwe, and its waters are held back by the Kariba and Cahora Bassa dams."),
            ("Lake Victoria",
             "Lake Victoria, shared by Uganda, Kenya and Tanzania, is the largest lake in Africa by area and the largest tropical lake in the world. It is usually named as the chief source of the White Nile, which leaves the lake at Jinja in Uganda. Its fisheries support millions of people around the shore."),
            ("Amazon River",
             "The Amazon in South America carries more water than any other river, discharging roughly a fifth of all the river water that reaches the oceans. Its length is disputed: depending on which source is chosen, estimates range from about 6,400 to over 7,000 kilometres, which is why it competes with the Nile for the title of the world's longest river."),
            ("Aswan High Dam",
             "The Aswan High Dam, completed in 1970 across the Nile in southern Egypt, created Lake Nasser, one of the largest reservoirs in the world. It controls the river's annual flood and provides hydroelectric power and irrigation water, but it also traps the silt that once fertilised fields downstream."),
            ("Sahara",
             "The Sahara is the largest hot desert in the world, covering about nine million square kilometres of northern Africa. Only a small part of it is sand dunes; much of the rest is rocky plateau and gravel plain. Between roughly 11,000 and 5,000 years ago the region was much wetter, with lakes, rivers and grassland."),
        ],
    },
    # --- biology ---------------------------------------------------------
    {
        "query": "how does photosynthesis produce oxygen",
        "positives": [
            (2, "Light-dependent reactions",
             "The oxygen released by photosynthesis comes from water. In the light-dependent reactions, photosystem II uses absorbed light energy to split water molecules into electrons, hydrogen ions and oxygen. The electrons replace those lost by chlorophyll, and the oxygen leaves the leaf as a by-product through its stomata."),
            (1, "Photosynthesis",
             "Photosynthesis is the process by which plants, algae and cyanobacteria convert light energy into chemical energy. Overall, carbon dioxide and water are turned into glucose and oxygen, summarised as 6CO2 + 6H2O -> C6H12O6 + 6O2. In plants the process takes place in chloroplasts, mostly in the cells of leaves."),
            (1, "Ruben and Kamen isotope experiment",
             "In 1941 Samuel Ruben, Martin Kamen and colleagues used the heavy isotope oxygen-18 to trace where photosynthetic oxygen originates. When algae were given water labelled with oxygen-18, the labelled oxygen appeared in the gas they released, showing that it comes from water rather than from carbon dioxide."),
        ],
        "negatives": [
            ("Calvin cycle",
             "The Calvin cycle is the set of light-independent reactions in photosynthesis that fix carbon dioxide into sugar. The enzyme RuBisCO attaches carbon dioxide to ribulose bisphosphate, and the products are reduced using ATP and NADPH made in the light reactions. The cycle takes place in the stroma of the chloroplast and produces the three-carbon sugars from which plants build glucose and starch."),
            ("Cellular respiration",
             "Cellular respiration is the process by which cells break down glucose to release energy stored as ATP. Aerobic respiration consumes oxygen and produces carbon dioxide and water, largely the reverse of the overall photosynthesis equation. Most of the ATP is produced in the mitochondria by oxidative phosphorylation."),
            ("Chlorophyll",
             "Chlorophyll is the green pigment that captures light for photosynthesis in plants, algae and cyanobacteria. It absorbs mainly blue and red wavelengths and reflects green, which is why leaves look green. Chlorophyll a and chlorophyll b differ slightly in structure and absorption, and a magnesium ion sits at the centre of each molecule."),
            ("Great Oxidation Event",
             "About 2.4 billion years ago, oxygen began to accumulate in Earth's atmosphere, an episode known as the Great Oxidation Event. The gas was produced by photosynthetic cyanobacteria, and its build-up caused iron dissolved in the oceans to precipitate, forming banded iron formations. It may also have triggered a long global glaciation."),
            ("C4 and CAM photosynthesis",
             "Some plants use C4 or CAM photosynthesis to reduce water loss and avoid wasteful photorespiration, in which RuBisCO binds oxygen instead of carbon dioxide. C4 plants such as maize and sugarcane first capture carbon dioxide in a four-carbon compound, while CAM plants such as cacti open their stomata only at night and store carbon dioxide until daylight."),
        ],
    },
    # --- law -------------------------------------------------------------
    {
        "query": "what does habeas corpus mean in law",
        "positives": [
            (2, "Habeas corpus",
             "Habeas corpus is a legal remedy that allows a person who is detained to challenge the lawfulness of the detention before a court. The Latin phrase means 'that you have the body'. A writ of habeas corpus orders the custodian to bring the prisoner before the court and justify the detention; if no lawful basis is shown, the prisoner must be released."),
        ],
        "negatives": [
            ("Habeas Corpus Act 1679",
             "The Habeas Corpus Act 1679, passed by the Parliament of England during the reign of Charles II, strengthened the existing writ by setting deadlines for bringing prisoners before a judge and penalties for officials who failed to comply. It is often cited as a landmark in the protection of personal liberty."),
            ("Suspension of habeas corpus",
             "The United States Constitution allows the privilege of the writ of habeas corpus to be suspended only in cases of rebellion or invasion when public safety requires it. President Abraham Lincoln suspended it during the Civil War, leading to the case Ex parte Merryman, in which Chief Justice Roger Taney challenged his authority."),
            ("Magna Carta",
             "Magna Carta, sealed by King John of England in 1215, declared that no free man should be imprisoned or stripped of his rights except by the lawful judgement of his peers or by the law of the land. Although most of its clauses have been repealed, it is regarded as a foundation of later legal protections against arbitrary detention."),
            ("Latin legal terms",
             "Many Latin phrases remain in everyday use in law. Pro bono refers to work done without charge, a subpoena is an order to attend court under penalty, and amicus curiae, meaning 'friend of the court', describes a party that offers information in a case it is not directly involved in. Stare decisis is the principle of following precedent."),
            ("Writ of mandamus",
             "A writ of mandamus is an order from a court directing a government official or a lower court to perform a duty required by law. Its name comes from the Latin for 'we command'. Courts usually issue it only when there is a clear legal right and no other adequate remedy."),
            ("Boumediene v. Bush",
             "In Boumediene v. Bush (2008), the United States Supreme Court ruled that foreign detainees held at Guantánamo Bay had a constitutional right to challenge their detention through habeas corpus petitions in federal courts. The decision struck down part of the Military Commissions Act of 2006."),
            ("Bail",
             "In criminal law, bail is the temporary release of an accused person awaiting trial, sometimes on condition that money is deposited with the court to ensure that they return. In many legal systems a judge weighs the seriousness of the charge, the risk of flight and the risk of reoffending when deciding whether to grant bail."),
        ],
    },
    # --- music -----------------------------------------------------------
    {
        "query": "what is the difference between a violin and a viola",
        "positives": [
            (2, "Viola",
             "The viola is slightly larger than the violin and has a lower, darker tone. Its four strings are tuned C, G, D and A, a perfect fifth below the violin's G, D, A and E. Viola music is written mostly in the alto clef, whereas violin music uses the treble clef."),
        ],
        "negatives": [
            ("Violin construction",
             "A violin is typically built with a spruce top, maple back and sides, and an ebony fingerboard. Inside, a small wooden post called the sound post and a strip called the bass bar help transmit vibrations from the strings to the body. The strings pass over a carved bridge held in place by their tension."),
            ("Antonio Stradivari",
             "Antonio Stradivari, working in Cremona in the late seventeenth and early eighteenth centuries, made violins, violas, cellos, guitars and harps. About 650 of his instruments survive, and his violins are among the most valuable in the world. Scientists have long debated whether their sound is really superior to that of modern instruments."),
            ("Cello",
             "The cello, or violoncello, is the bass-tenor member of the violin family, played seated with the instrument held between the knees and supported by an endpin. Its strings are tuned C, G, D and A, one octave below the viola. Bach's six suites for unaccompanied cello are central works in its repertoire."),
            ("Fiddle",
             "Fiddle and violin are the same instrument; the difference lies in the musical style. Fiddlers in folk traditions such as Irish, Scottish and bluegrass music may use a flatter bridge to play double stops more easily, and they often learn tunes by ear rather than from written music."),
            ("String quartet",
             "A string quartet is an ensemble of two violins, a viola and a cello. Joseph Haydn established the form in the eighteenth century, writing sixty-eight quartets. Later composers such as Beethoven, Schubert, Bartók and Shostakovich used the quartet for some of their most personal music."),
            ("Viola da gamba",
             "The viola da gamba, or viol, belongs to a family of bowed string instruments that was popular in the Renaissance and Baroque periods. Despite the name, it is not a direct ancestor of the modern viola. Viols have frets and usually six strings, and they are held upright between the legs, with the bow held underhand."),
        ],
    },
    # --- climate ---------------------------------------------------------
    {
        "query": "what causes El Niño weather patterns",
        "positives": [
            (2, "El Niño",
             "El Niño occurs when the trade winds that normally blow westward across the tropical Pacific weaken. Warm surface water that usually piles up near Indonesia spreads back east toward South America, suppressing the upwelling of cold water off Peru. The warmer ocean shifts rainfall and atmospheric circulation, which in turn alters weather around the world."),
            (1, "El Niño–Southern Oscillation",
             "El Niño is the warm phase of the El Niño–Southern Oscillation (ENSO), a coupled cycle of ocean temperatures and air pressure across the tropical Pacific. The atmospheric part, the Southern Oscillation, is a seesaw in surface pressure between Tahiti and Darwin, Australia. Ocean and atmosphere reinforce each other, so a change in one amplifies the other."),
        ],
        "negatives": [
            ("La Niña",
             "La Niña is the cool counterpart of El Niño, marked by unusually cold surface water in the central and eastern tropical Pacific. It often brings drier conditions to the southern United States and wetter conditions to Australia and Indonesia. La Niña episodes frequently follow El Niño events and can last for more than a year."),
            ("Effects of El Niño",
             "Strong El Niño years are associated with heavy rain and flooding in Peru and Ecuador, drought in Australia, Indonesia and southern Africa, and milder winter weather in parts of Canada. Global average temperatures tend to be higher during and just after an El Niño, as in 1998 and 2016."),
            ("Monsoon",
             "A monsoon is a seasonal reversal of prevailing winds that brings a marked wet season. The South Asian monsoon develops as land heats faster than the Indian Ocean in early summer, drawing moist ocean air inland. Its rains, usually reaching India in June, supply most of the country's annual precipitation."),
            ("Name of El Niño",
             "The name El Niño, Spanish for 'the boy' or 'the Christ child', was given by fishermen on the coast of Peru to a warm current that appeared around Christmas in some years. The warm water reduced catches of anchovies. Scientists later adopted the term for the much larger pattern that spans the Pacific."),
            ("Gulf Stream",
             "The Gulf Stream is a strong, warm Atlantic current that flows from the Gulf of Mexico along the east coast of the United States and across the ocean toward Europe. Its extension, the North Atlantic Current, influences weather patterns and helps give northwestern Europe milder winters than other regions at the same latitude."),
            ("Indian Ocean Dipole",
             "The Indian Ocean Dipole is an irregular oscillation of sea surface temperatures between the western and eastern Indian Ocean. In its positive phase, warmer water in the west brings heavier rainfall to East Africa while Australia and Indonesia tend to be drier. It is sometimes called the Indian Niño because of its similarity to El Niño."),
        ],
    },
    # --- health ----------------------------------------------------------
    {
        "query": "how to treat a bee sting at home",
        "positives": [
            (2, "Bee sting first aid",
             "If stung by a honeybee, remove the stinger as quickly as possible, for example by scraping it out with a fingernail or the edge of a card. Wash the area with soap and water and apply a cold pack to reduce swelling. An oral antihistamine and a pain reliever such as paracetamol or ibuprofen can ease itching and pain."),
        ],
        "negatives": [
            ("Anaphylaxis",
             "Anaphylaxis is a severe, life-threatening allergic reaction that can follow an insect sting, a food or a medication. Signs include difficulty breathing, swelling of the throat, a rapid drop in blood pressure and hives. It is treated with an immediate injection of adrenaline, and people known to be at risk are advised to carry an auto-injector."),
            ("Honeybee stinger",
             "A worker honeybee's stinger is barbed, so it usually lodges in the skin of mammals. When the bee pulls away, the stinger, venom sac and part of the abdomen are torn from its body, and the bee dies soon after. Wasps and bumblebees have smooth stingers and can sting repeatedly."),
            ("Bee venom",
             "Bee venom is a mixture of proteins and peptides. Its main component, melittin, disrupts cell membranes and causes much of the pain, while the enzyme phospholipase A2 is a major allergen. Honeybee venom differs chemically from wasp venom, so an allergy to one does not necessarily imply an allergy to the other."),
            ("Wasp",
             "Wasps are a large group of insects in the order Hymenoptera, which also includes bees and ants. Social wasps such as yellowjackets and hornets build paper nests from chewed wood fibre. Unlike honeybees, they can sting more than once, and they become more aggressive in late summer when their colonies are large."),
            ("Venom immunotherapy",
             "Venom immunotherapy is a long-term treatment for people who have had severe allergic reactions to bee or wasp stings. Patients receive injections of gradually increasing doses of purified venom, usually for three to five years, which greatly lowers the risk of anaphylaxis from a future sting."),
            ("Jellyfish sting",
             "Jellyfish stings are caused by thousands of tiny stinging cells called nematocysts on the tentacles. For many species, rinsing with vinegar stops undischarged cells from firing, and soaking the area in hot water eases the pain. Any tentacle fragments should be removed carefully, ideally with tweezers."),
        ],
    },
    # --- cooking ---------------------------------------------------------
    {
        "query": "how often should I feed a sourdough starter",
        "positives": [
            (2, "Sourdough starter maintenance",
             "A sourdough starter kept at room temperature generally needs feeding once or twice a day, each time discarding part of it and adding fresh flour and water. A starter stored in the refrigerator ferments much more slowly and can be fed about once a week, then given one or two feedings at room temperature before baking."),
        ],
        "negatives": [
            ("Sourdough",
             "Sourdough is bread leavened by a natural culture of wild yeasts and lactic acid bacteria rather than by commercial baker's yeast. The bacteria produce lactic and acetic acids that give the bread its tangy flavour and help it keep longer. Sourdough was probably the main way of leavening bread for most of history."),
            ("San Francisco sourdough",
             "San Francisco has been famous for sourdough since the California Gold Rush, when miners were nicknamed sourdoughs for the starters they carried. A bacterium first identified in the city's starters was named Lactobacillus sanfranciscensis, now Fructilactobacillus sanfranciscensis, although it has since been found in sourdoughs worldwide."),
            ("Baker's percentage",
             "Bakers express recipes as baker's percentages, giving every ingredient as a proportion of the total flour weight. A dough made with 1,000 grams of flour and 700 grams of water has 70 percent hydration. Sourdough starters are often kept at 100 percent hydration, meaning equal weights of flour and water."),
            ("Making a sourdough starter",
             "To create a sourdough starter, mix equal weights of flour and water in a jar and leave it at warm room temperature. Over the first week, bacteria and yeasts naturally present in the flour multiply. Early bubbles often come from other bacteria, and a stable, predictable rise may take one to two weeks to develop."),
            ("Baker's yeast",
             "Baker's yeast is a strain of Saccharomyces cerevisiae sold as fresh compressed cakes, active dry yeast or instant yeast. It ferments sugars in dough, producing carbon dioxide that makes bread rise and ethanol that evaporates during baking. Instant yeast can be mixed straight into the flour without first being dissolved."),
            ("Feeding backyard chickens",
             "Backyard chickens need constant access to fresh water and a complete layer feed, which supplies the calcium needed for strong eggshells. An adult laying hen eats roughly 100 to 150 grams of feed a day. Kitchen scraps should be given only as occasional treats, and some foods, such as avocado skin, are harmful."),
        ],
    },
    # --- astronomy -------------------------------------------------------
    {
        "query": "why does the Moon have phases",
        "positives": [
            (2, "Lunar phase",
             "The Moon has phases because half of it is always lit by the Sun, but the amount of that sunlit half visible from Earth changes as the Moon orbits us. At new Moon the lit side faces away from Earth; at full Moon it faces us directly. The cycle from one new Moon to the next takes about 29.5 days."),
        ],
        "negatives": [
            ("Lunar eclipse",
             "A lunar eclipse happens when Earth passes directly between the Sun and the Moon, so that Earth's shadow falls on the Moon. It can occur only at full Moon. During a total lunar eclipse the Moon often turns a coppery red, because sunlight refracted through Earth's atmosphere still reaches it."),
            ("Tidal locking of the Moon",
             "The Moon is tidally locked to Earth, rotating once on its axis in the same time it takes to complete one orbit. As a result the same side always faces Earth, and the far side was not seen until the Soviet probe Luna 3 photographed it in 1959. The far side is not permanently dark; it receives as much sunlight as the near side."),
            ("Blue moon",
             "The phrase blue moon usually refers to a second full Moon in one calendar month, which happens about every two to three years. An older definition counts the third full Moon in a season that has four. The Moon only rarely looks blue, for instance after large volcanic eruptions or forest fires."),
            ("Origin of the Moon",
             "The leading explanation for the Moon's origin is the giant-impact hypothesis: about 4.5 billion years ago a Mars-sized body, often called Theia, collided with the young Earth. Debris thrown into orbit gathered to form the Moon. The similar oxygen isotope ratios of lunar and terrestrial rocks support this idea."),
            ("Phases of Venus",
             "Venus shows a full set of phases through a telescope, from a thin crescent to nearly full. Galileo observed them in 1610, and they provided strong evidence for the Sun-centred model of the solar system, because the Ptolemaic system could not account for the full range of phases that he saw."),
            ("Lunar calendar",
             "A lunar calendar bases its months on the cycle of the Moon's phases. The Islamic calendar is purely lunar, with twelve months totalling about 354 days, so its months move through the seasons over roughly 33 years. Lunisolar calendars, such as the Hebrew and Chinese calendars, add extra months to stay aligned with the solar year."),
            ("Apollo 11",
             "Apollo 11 landed on the Moon on 20 July 1969. Neil Armstrong and Buzz Aldrin spent about two and a half hours walking on the surface near the Sea of Tranquility, while Michael Collins remained in lunar orbit. The crew collected about 21.5 kilograms of rock and soil and returned safely to Earth four days later."),
        ],
    },
    # --- history ---------------------------------------------------------
    {
        "query": "who built Machu Picchu and when",
        "positives": [
            (2, "Machu Picchu",
             "Machu Picchu is a fifteenth-century Inca citadel on a mountain ridge above the Urubamba River valley in Peru. Most archaeologists believe it was built as an estate for the Inca emperor Pachacuti, who came to power around 1438. Its buildings show the classic Inca technique of fitting polished stone blocks together without mortar."),
            (1, "Dating Machu Picchu",
             "Radiocarbon dating of human remains from Machu Picchu, published in 2021, suggests the site was occupied from about 1420, some two decades earlier than dates drawn from Spanish colonial records. The study implies that Pachacuti's rise to power, and the building of his estate, may have begun earlier than historians had assumed."),
        ],
        "negatives": [
            ("Hiram Bingham",
             "The American explorer Hiram Bingham brought Machu Picchu to international attention in 1911, guided there by local farmers who already knew the site. His expeditions, sponsored by Yale University and the National Geographic Society, removed thousands of artefacts, many of which Yale returned to Peru in 2011 and 2012."),
            ("Inca Trail",
             "The Inca Trail to Machu Picchu is a hiking route of about 42 kilometres through the Andes, passing several Inca ruins before reaching the Sun Gate, Inti Punku. Access is limited by a permit system, and the trail is closed each February for maintenance. Most hikers complete it in four days."),
            ("Cusco",
             "Cusco, in the southern Andes of Peru, was the capital of the Inca Empire. Spanish colonists built churches and mansions on top of Inca foundations, and walls such as the one holding the Twelve-Angled Stone still display Inca masonry. The city is the usual starting point for travel to Machu Picchu."),
            ("Inca road system",
             "The Inca road system, or Qhapaq Ñan, was a network of roughly 40,000 kilometres of roads linking the empire from present-day Colombia to Chile. Relay runners called chasquis carried messages along it, and storehouses and way stations were built at intervals. One branch led to Machu Picchu, and the network was inscribed as a World Heritage Site in 2014."),
            ("Spanish conquest of the Inca Empire",
             "Francisco Pizarro and a small Spanish force captured the Inca ruler Atahualpa at Cajamarca in 1532 and executed him the following year. The empire, already weakened by civil war and by epidemics of European diseases, gradually fell, although resistance continued from Vilcabamba until 1572. There is no record that the Spanish ever reached Machu Picchu."),
            ("Great Pyramid of Giza",
             "The Great Pyramid of Giza was built for the pharaoh Khufu around 2560 BC. Evidence from nearby workers' villages and tombs indicates that it was built by paid Egyptian labourers rather than slaves. It remained the tallest human-made structure in the world for more than 3,800 years."),
        ],
    },
    # --- programming -----------------------------------------------------
    {
        "query": "what does git rebase do",
        "positives": [
            (2, "git rebase",
             "The git rebase command moves or reapplies a series of commits on top of a different base commit. For example, rebasing a feature branch onto the latest main branch replays each of its commits after the tip of main, producing a linear history as if the work had started from there. The rebased commits receive new hashes."),
            (1, "Interactive rebase",
             "Running git rebase with the -i option opens an editor listing the commits to be replayed. Each line can be marked to pick, reword, edit, squash, fixup or drop a commit, which lets developers tidy up history before sharing it, for instance by combining several small fixes into a single commit."),
        ],
        "negatives": [
            ("git merge",
             "The git merge command joins the histories of two branches. If the current branch has not diverged, Git can perform a fast-forward merge by simply moving the branch pointer. Otherwise it creates a merge commit with two parents, preserving the history of both branches exactly as it happened."),
            ("Git",
             "Git is a distributed version control system created by Linus Torvalds in 2005 for development of the Linux kernel. Every clone contains the full history of the project, so most operations work offline. Git stores content as snapshots identified by cryptographic hashes, traditionally SHA-1."),
            ("git cherry-pick",
             "The git cherry-pick command applies the changes introduced by one or more existing commits onto the current branch, creating new commits. It is useful for copying a bug fix from one branch to another without merging everything else. Conflicts are resolved in the same way as during a merge."),
            ("Merge conflict",
             "A merge conflict arises in version control when two branches change the same lines of a file differently, or when one branch deletes a file that the other modifies. During a merge or rebase, Git marks the conflicting region with <<<<<<<, ======= and >>>>>>> lines, and the developer must edit the file and mark it resolved before continuing."),
            ("git reset",
             "The git reset command moves the current branch pointer to a specified commit. With --soft the staged changes are kept, the default --mixed unstages them, and --hard also discards changes in the working directory. Because a hard reset can destroy uncommitted work, it should be used with care."),
            ("git reflog",
             "The reflog records every position that branch tips and HEAD have pointed to in a local repository. It is often used to recover commits that seem lost after a rebase, a reset or a deleted branch, by finding the old commit hash and checking it out or creating a new branch there."),
        ],
    },
    # --- finance ---------------------------------------------------------
    {
        "query": "what is an index fund and how does it work",
        "positives": [
            (2, "Index fund",
             "An index fund is a mutual fund or exchange-traded fund that aims to match the performance of a market index, such as the S&P 500, rather than trying to beat it. It works by holding all, or a representative sample, of the securities in the index in the same proportions. Because little research or trading is needed, its fees are usually low."),
        ],
        "negatives": [
            ("First Index Investment Trust",
             "John Bogle's Vanguard launched the First Index Investment Trust in 1976, the first index mutual fund offered to ordinary investors. Critics mocked it as 'Bogle's folly', but it grew into the Vanguard 500 Index Fund, one of the largest funds in the world."),
            ("Exchange-traded fund",
             "An exchange-traded fund (ETF) is an investment fund whose shares trade on a stock exchange throughout the day, like those of individual companies. Institutions called authorised participants create and redeem ETF shares in large blocks, which keeps the market price close to the value of the fund's underlying assets."),
            ("Stock market index",
             "A stock market index measures the value of a group of stocks. The S&P 500 tracks 500 large American companies weighted by market capitalisation, while the Dow Jones Industrial Average follows 30 companies and is weighted by share price. The Nikkei 225 and FTSE 100 play similar roles in Japan and the United Kingdom."),
            ("Active management",
             "Actively managed funds employ managers who pick investments in an attempt to outperform a benchmark. Studies such as S&P's SPIVA reports have found that most active stock funds underperform their benchmark index over periods of ten years or more, largely because of higher fees and trading costs."),
            ("Expense ratio",
             "A fund's expense ratio is the annual cost of running it, expressed as a percentage of assets. A fund with a 0.5 percent expense ratio costs 5 dollars a year for every 1,000 dollars invested. Small differences add up over decades, because fees reduce the amount left to compound."),
            ("Hedge fund",
             "A hedge fund is a pooled investment fund, usually open only to wealthy or institutional investors, that uses strategies such as short selling, leverage and derivatives. Hedge funds traditionally charged a management fee of 2 percent plus 20 percent of profits, and they face fewer regulatory restrictions than mutual funds."),
            ("Dollar-cost averaging",
             "Dollar-cost averaging means investing a fixed amount at regular intervals, regardless of price. More shares are bought when prices are low and fewer when they are high. It is common among people who put part of each paycheque into a fund through a workplace retirement plan."),
        ],
    },
    # --- sport -----------------------------------------------------------
    {
        "query": "how does scoring work in a tennis tiebreak",
        "positives": [
            (2, "Tiebreak (tennis)",
             "In a standard tennis tiebreak, points are counted simply as one, two, three and so on, and the first player to reach seven points with a margin of at least two wins the set 7-6. The player due to serve takes the first point, then the players alternate, each serving two points in a row, and they change ends after every six points."),
        ],
        "negatives": [
            ("Tennis scoring",
             "A game of tennis is scored love, 15, 30, 40 and game, with love meaning zero. At 40-40, called deuce, a player must win two consecutive points to take the game: the first gives advantage, the second the game. A set usually goes to the first player to win six games with a lead of two."),
            ("Isner-Mahut match",
             "The longest tennis match in history was played at Wimbledon in 2010 between John Isner and Nicolas Mahut. With no tiebreak in the final set at the time, the fifth set alone finished 70-68, and the match lasted 11 hours and 5 minutes spread over three days."),
            ("Jimmy Van Alen",
             "The tiebreak was invented by the American Jimmy Van Alen to shorten long sets and make tennis better suited to television. His original nine-point sudden-death version was used at the 1970 US Open, where a set at six games all could be decided by a single point."),
            ("Volleyball scoring",
             "Volleyball uses rally scoring, in which a point is awarded on every rally regardless of which team served. In international play, sets are played to 25 points with a two-point lead required, and a deciding fifth set is played to 15. The serve passes to the team that wins a rally it did not serve."),
            ("Tennis court surfaces",
             "Tennis is played on grass, clay and hard courts. Clay slows the ball and produces a high bounce, favouring long rallies, while grass gives a fast, low bounce. Wimbledon is the only Grand Slam still played on grass, the French Open uses red clay, and the Australian and US Opens use hard courts."),
            ("Hawk-Eye",
             "Hawk-Eye is a camera-based ball-tracking system used in tennis to check line calls. Players were first allowed to challenge calls with it in 2006, receiving a limited number of unsuccessful challenges per set and an extra one in a tiebreak. Some tournaments now use electronic line calling for every call."),
        ],
    },
    # --- geography -------------------------------------------------------
    {
        "query": "why is the Dead Sea so salty",
        "positives": [
            (2, "Salinity of the Dead Sea",
             "The Dead Sea is so salty because it lies in a basin with no outlet. The Jordan River and smaller streams carry dissolved minerals into it, but water leaves only by evaporation in the hot, dry climate, so the salts are left behind and concentrate over time. Its salinity is around 34 percent, almost ten times that of the ocean."),
        ],
        "negatives": [
            ("Floating in the Dead Sea",
             "Because its dense, salty water is so buoyant, swimmers in the Dead Sea float easily and can lie back on the surface almost as if on a mattress. Visitors are warned not to splash or dive, since the water is painful in the eyes and harmful if swallowed, and most bathers rinse off in fresh water afterwards."),
            ("Dead Sea Scrolls",
             "The Dead Sea Scrolls are ancient Jewish manuscripts found between 1947 and 1956 in caves near Qumran, on the northwestern shore of the Dead Sea. They include the oldest known copies of books of the Hebrew Bible and date from roughly the third century BC to the first century AD."),
            ("Shrinking of the Dead Sea",
             "The surface of the Dead Sea has been falling by more than a metre a year, mainly because most of the Jordan River's water is diverted for farming and drinking. Mineral extraction in evaporation ponds adds to the loss. Thousands of sinkholes have opened along the shore as underground salt layers dissolve."),
            ("Great Salt Lake",
             "The Great Salt Lake in Utah is the largest saltwater lake in the Western Hemisphere. Like other terminal lakes it has no outlet, and its salinity varies widely with the water level, from roughly that of seawater in some years to far higher in its isolated north arm, which is so salty that salt-loving microbes tint it pink."),
            ("Seawater",
             "Seawater has an average salinity of about 3.5 percent, meaning each litre contains roughly 35 grams of dissolved salts, mostly sodium chloride. The salt comes from minerals weathered from rocks on land and carried to the sea by rivers, and from hydrothermal vents on the ocean floor."),
            ("Lowest point on land",
             "The shore of the Dead Sea, at about 430 metres below sea level, is the lowest point on dry land on Earth. It lies in the Jordan Rift Valley, part of a long depression formed as the African and Arabian tectonic plates move apart along a transform fault."),
            ("Dead Sea cosmetics",
             "Minerals and mud from the Dead Sea, rich in magnesium, calcium and potassium, are sold worldwide in cosmetics and skin-care products. Resorts on the Israeli and Jordanian shores promote bathing in the water and coating the skin with mud for people with conditions such as psoriasis."),
        ],
    },
    # --- biology ---------------------------------------------------------
    {
        "query": "how do vaccines train the immune system",
        "positives": [
            (2, "How vaccines work",
             "A vaccine exposes the immune system to an antigen, a harmless piece or weakened form of a pathogen, without causing the disease. B cells respond by making antibodies, and T cells learn to recognise infected cells. Some of these cells become long-lived memory cells, so a later encounter with the real pathogen triggers a faster, stronger response."),
        ],
        "negatives": [
            ("Edward Jenner",
             "In 1796 the English physician Edward Jenner inoculated a boy, James Phipps, with material from a cowpox sore and later showed that the boy was protected against smallpox. The word vaccine comes from the Latin vacca, meaning cow. Smallpox was declared eradicated by the World Health Organization in 1980."),
            ("Booster dose",
             "Some vaccines require booster doses because the protection they give fades over time. Tetanus boosters are recommended for adults about every ten years, and influenza vaccines are given every year, partly because the circulating strains of the virus keep changing."),
            ("Herd immunity",
             "Herd immunity occurs when enough people in a population are immune to an infectious disease that its spread slows or stops, protecting those who are not immune. The threshold depends on how contagious the disease is; for measles, around 95 percent of people need to be immune."),
            ("Vaccine adjuvant",
             "An adjuvant is an ingredient added to some vaccines to strengthen the response to the antigen. Aluminium salts have been used as adjuvants since the 1930s. Newer adjuvants, such as oil-in-water emulsions, can allow smaller amounts of antigen to be used in each dose."),
            ("Autoimmune disease",
             "In autoimmune diseases the immune system mistakenly attacks the body's own tissues. Examples include type 1 diabetes, in which insulin-producing cells of the pancreas are destroyed, as well as rheumatoid arthritis and multiple sclerosis. Treatments often aim to suppress or modulate the immune response."),
            ("Vaccine cold chain",
             "Many vaccines must be kept within a narrow temperature range, usually between 2 and 8 °C, from manufacture to administration, an arrangement called the cold chain. Some vaccines lose potency if frozen and others if warmed, so refrigerators, cool boxes and temperature monitors are essential in immunisation programmes."),
        ],
    },
    # --- law -------------------------------------------------------------
    {
        "query": "what does it mean to plead no contest in court",
        "positives": [
            (2, "Nolo contendere",
             "To plead no contest, or nolo contendere, means that the defendant does not admit guilt but accepts conviction and punishment as if guilty. In the United States its main practical difference from a guilty plea is that it usually cannot be used as an admission of fault in a later civil lawsuit arising from the same events. Courts are not required to accept it."),
        ],
        "negatives": [
            ("Plea bargain",
             "A plea bargain is an agreement in which a defendant agrees to plead guilty, often to a lesser charge, in exchange for concessions from the prosecutor such as a lighter sentence recommendation. The large majority of criminal convictions in the United States result from plea bargains rather than trials."),
            ("Alford plea",
             "An Alford plea lets a defendant plead guilty while maintaining innocence, admitting only that the prosecution has enough evidence for a likely conviction. It takes its name from the 1970 US Supreme Court case North Carolina v. Alford. Not every state accepts such pleas."),
            ("Arraignment",
             "An arraignment is a court hearing at which a criminal defendant is formally told of the charges and asked how they plead. In common-law systems the usual pleas are guilty and not guilty. The judge may also deal with bail and the appointment of a lawyer at this stage."),
            ("Will contest",
             "A will can be contested in probate court by someone with a financial interest, such as a relative who would inherit without it. Common grounds include lack of mental capacity, undue influence, fraud or improper signing. Some wills include a no-contest clause that disinherits anyone who challenges the will unsuccessfully."),
            ("Presumption of innocence",
             "The presumption of innocence means that a person accused of a crime is considered innocent until proven guilty. The prosecution bears the burden of proof and in criminal cases must establish guilt beyond a reasonable doubt. Every criminal court must apply it, and it is recognised in Article 11 of the Universal Declaration of Human Rights."),
            ("Contempt of court",
             "Contempt of court is behaviour that disobeys or disrespects the authority of a court, such as ignoring a court order, disrupting proceedings or refusing to testify. It can be punished with fines or imprisonment. Civil contempt usually aims to force compliance, while criminal contempt punishes past conduct."),
            ("Pleading the Fifth",
             "To plead the Fifth means to invoke the Fifth Amendment to the US Constitution, which protects a person from being compelled to be a witness against themselves. A witness may refuse to answer questions whose answers could be incriminating, and in a criminal trial the jury may not treat a defendant's silence as evidence of guilt."),
        ],
    },
    # --- music -----------------------------------------------------------
    {
        "query": "what is the circle of fifths in music theory",
        "positives": [
            (2, "Circle of fifths",
             "The circle of fifths arranges the twelve pitch classes of Western music in a cycle in which each step is a perfect fifth: C, G, D, A, E, B, F sharp and so on, eventually returning to C. Moving clockwise adds one sharp to the key signature at each step, while moving anticlockwise adds one flat. Musicians use it to relate keys and chords."),
        ],
        "negatives": [
            ("Perfect fifth",
             "In music, a perfect fifth is the interval spanning seven semitones, such as C up to G. In just intonation its frequency ratio is 3:2, making it one of the most consonant intervals after the octave. Power chords in rock music consist of a root note and the fifth above it, and stacked fifths underlie many tuning systems."),
            ("Key signature",
             "In written music, a key signature is the set of sharps or flats placed at the start of each staff to show the key of a piece. G major has one sharp, F sharp, and F major has one flat, B flat. Sharps are always added in the order F, C, G, D, A, E, B, a chain of rising fifths, and flats in the reverse order."),
            ("Music theory",
             "Music theory is the study of the practices and possibilities of music, including notation, harmony, melody, rhythm and form. Written theoretical traditions exist in many cultures, from ancient Greek writings on tuning to Indian treatises on raga and tala. In Western music education, theory is usually learned alongside ear training."),
            ("Pythagorean tuning",
             "Pythagorean tuning builds a scale by stacking pure fifths with a 3:2 frequency ratio. Twelve such fifths overshoot seven octaves slightly, by an amount called the Pythagorean comma, about a quarter of a semitone. As a result a circle of pure fifths never quite closes, a problem later tuning systems tried to solve."),
            ("Equal temperament",
             "Twelve-tone equal temperament divides the octave into twelve equal semitones, each with a frequency ratio of the twelfth root of two. All keys sound equally in tune, although its fifths are very slightly narrow and its major thirds noticeably wide compared with pure ratios. It became the standard tuning for Western keyboard instruments in the nineteenth century."),
            ("Chord progression",
             "A chord progression is a sequence of chords. The I-IV-V progression underlies much blues, rock and folk music, while the ii-V-I progression is central to jazz harmony. In music theory, progressions are named with Roman numerals that show the position of each chord's root within the key."),
        ],
    },
    # --- climate ---------------------------------------------------------
    {
        "query": "what causes the hole in the ozone layer",
        "positives": [
            (2, "Ozone depletion",
             "The ozone hole is caused mainly by chlorine and bromine released from human-made chemicals such as chlorofluorocarbons (CFCs) and halons. In the stratosphere, ultraviolet light breaks these molecules apart, and the freed chlorine atoms destroy ozone in chain reactions, a single atom removing thousands of ozone molecules."),
            (1, "Polar stratospheric clouds",
             "Ozone loss is most severe over Antarctica because of polar stratospheric clouds, which form in the extreme cold of the winter polar vortex. Reactions on the surfaces of these clouds convert chlorine into forms that sunlight breaks down rapidly in spring, producing the seasonal ozone hole each September and October."),
        ],
        "negatives": [
            ("Ozone layer",
             "The ozone layer is a region of the stratosphere, roughly 15 to 35 kilometres above Earth's surface, that contains relatively high concentrations of ozone. It absorbs most of the Sun's ultraviolet-B radiation, which can cause sunburn, skin cancer and cataracts and can damage crops and marine life."),
            ("Montreal Protocol",
             "The Montreal Protocol, agreed in 1987, is an international treaty to phase out the production of ozone-depleting substances. It has been ratified by every member of the United Nations. Scientists expect the Antarctic ozone hole to recover to its 1980 state sometime in the 2060s."),
            ("Ground-level ozone",
             "Ozone near the ground is an air pollutant rather than a shield. It forms when nitrogen oxides and volatile organic compounds from vehicles and industry react in sunlight, and it is a main component of summer smog. High levels irritate the lungs and worsen asthma."),
            ("Discovery of the ozone hole",
             "The Antarctic ozone hole was reported in 1985 by Joseph Farman, Brian Gardiner and Jonathan Shanklin of the British Antarctic Survey, based on ground measurements at Halley station. NASA satellite data later confirmed the loss. The finding surprised many scientists, because the decline was far larger than models had predicted."),
            ("Greenhouse effect",
             "The greenhouse effect is the warming of a planet's surface by gases that absorb and re-emit infrared radiation, such as water vapour, carbon dioxide and methane. Without it, Earth's average temperature would be about minus 18 °C instead of roughly 15 °C. Human emissions have strengthened the effect, causing global warming."),
            ("UV index",
             "The UV index is a standard scale for the strength of sunburn-producing ultraviolet radiation at a particular place and time. Values of 3 to 5 are moderate, 8 to 10 very high and 11 or more extreme. It is highest near midday, at high altitude and where the ozone layer is thin."),
        ],
    },
    # --- cooking ---------------------------------------------------------
    {
        "query": "how to remove rust from a cast iron skillet",
        "positives": [
            (2, "Restoring a rusty cast iron pan",
             "To remove rust from a cast iron skillet, scrub the rusty patches with steel wool or a stiff brush and a little water until bare metal shows, then rinse and dry the pan at once on a hot burner. Finish by rubbing a thin coat of cooking oil over the whole pan and baking it upside down in a hot oven for an hour to rebuild the seasoning."),
        ],
        "negatives": [
            ("Seasoning (cookware)",
             "Seasoning is the layer of polymerised fat that coats cast iron and carbon steel cookware. When a thin film of oil is heated past its smoke point, it forms a hard, slick surface that resists sticking and protects the metal. Flaxseed oil, vegetable shortening and canola oil are popular choices."),
            ("Cast iron",
             "Cast iron is an iron alloy containing more than about 2 percent carbon. It melts at a lower temperature than steel and flows well into moulds, but it is brittle. Grey cast iron, named for the grey appearance of its fracture surfaces, is used for engine blocks, pipes and cookware."),
            ("Rust",
             "Rust is iron oxide formed when iron or steel reacts with oxygen in the presence of water or moist air. The reaction is faster in salty conditions, which is why cars in places that salt their roads corrode sooner. Unlike the oxide film on aluminium, rust flakes away and does not protect the metal underneath."),
            ("Caring for cast iron",
             "After cooking, a cast iron skillet can be washed with hot water and a brush, and a small amount of mild soap will not harm well-established seasoning. Soaking the pan in the sink or putting it in the dishwasher should be avoided. Drying it thoroughly and wiping on a thin layer of oil keeps it in good condition."),
            ("Dutch oven",
             "A Dutch oven is a heavy cooking pot with a tight-fitting lid, traditionally made of cast iron. It suits slow braises, stews and bread baking, since the thick walls hold heat evenly. Enamelled versions have a glass-like coating that does not need seasoning."),
            ("Rust on tools",
             "Rust on garden tools and hand tools can be removed with a wire brush, sandpaper or a rotary tool fitted with a wire wheel. Chemical rust converters turn iron oxide into a stable black layer that can be painted. Storing tools dry and wiping the blades with oil reduces future rust."),
        ],
    },
    # --- geology ---------------------------------------------------------
    {
        "query": "how do volcanoes form and where are they found",
        "positives": [
            (2, "Formation of volcanoes",
             "Volcanoes form where molten rock, or magma, rises from deep within the Earth and erupts at the surface. Most occur at tectonic plate boundaries: where plates pull apart, as along mid-ocean ridges, and at subduction zones, where a sinking plate releases water that lowers the melting point of the mantle above. Repeated eruptions build up layers of lava and ash."),
        ],
        "negatives": [
            ("Mount Vesuvius",
             "Mount Vesuvius, on the Bay of Naples in Italy, erupted in AD 79 and buried the Roman towns of Pompeii and Herculaneum under ash and pumice. Pliny the Younger described the eruption in letters to the historian Tacitus. Vesuvius last erupted in 1944 and is among the most closely watched volcanoes in the world, because millions of people live nearby."),
            ("Volcanic Explosivity Index",
             "The Volcanic Explosivity Index rates eruptions of volcanoes from 0 to 8 according to the volume of material ejected and the height of the eruption column. Each step represents roughly a tenfold increase. The 1815 eruption of Tambora in Indonesia, rated 7, was the largest in recorded history."),
            ("Types of volcanoes",
             "Volcanoes are commonly classified by shape. Shield volcanoes, such as Mauna Loa, have broad, gentle slopes built by runny basalt lava. Stratovolcanoes, such as Mount Fuji, are steep cones of alternating lava and ash. Cinder cones are small, steep hills of loose fragments piled around a single vent."),
            ("Supervolcano",
             "A supervolcano is a volcano that has produced an eruption rated 8 on the Volcanic Explosivity Index, ejecting more than 1,000 cubic kilometres of material. Yellowstone in the United States and Toba in Indonesia are examples. Unlike most volcanoes, such systems leave vast depressions called calderas rather than a single cone."),
            ("Earthquake",
             "An earthquake is the shaking of the ground caused by the sudden release of energy when rocks slip along a fault. Most earthquakes occur along tectonic plate boundaries, and swarms of small ones are often found beneath active volcanoes as magma moves. Their size is measured on the moment magnitude scale, and the point underground where rupture begins is called the hypocentre."),
            ("Volcanic ash and aviation",
             "Volcanic ash, thrown out by explosive volcanoes, is made of tiny fragments of rock and glass. When a jet engine ingests it, the particles can melt in the hot combustion chamber and stick to turbine parts, causing the engine to lose power. The 2010 eruption of Eyjafjallajökull in Iceland closed much of European airspace for several days."),
        ],
    },
    # --- physics ---------------------------------------------------------
    {
        "query": "what is the speed of light in a vacuum",
        "positives": [
            (2, "Speed of light",
             "The speed of light in a vacuum, denoted c, is exactly 299,792,458 metres per second, or about 300,000 kilometres per second. The value is exact because since 1983 the metre has been defined as the distance light travels in 1/299,792,458 of a second. Nothing carrying information can travel faster than c."),
        ],
        "negatives": [
            ("Refractive index",
             "Light travels more slowly through transparent materials than through empty space. The refractive index of a material is the ratio of the two speeds: water has an index of about 1.33 and ordinary glass about 1.5, so light in glass moves at roughly two-thirds of its speed in a vacuum."),
            ("Ole Rømer",
             "In 1676 the Danish astronomer Ole Rømer made the first quantitative estimate of the speed of light. He noticed that eclipses of Jupiter's moon Io came earlier when Earth was nearer Jupiter and later when it was farther away, and attributed the difference to the time light takes to cross Earth's orbit."),
            ("Light-year",
             "A light-year is the distance light travels in one Julian year, about 9.46 trillion kilometres. It is a unit of distance, not of time. The nearest star beyond the Sun, Proxima Centauri, is about 4.2 light-years away, so the light we see from it left a little over four years ago."),
            ("Speed of sound",
             "The speed of sound in dry air at 20 °C is about 343 metres per second. Sound travels faster in liquids and solids: about 1,480 metres per second in water and several thousand in steel. Unlike light, sound cannot cross a vacuum, because it needs a medium to carry its vibrations."),
            ("Vacuum",
             "A vacuum is a space largely empty of matter, with a gas pressure much lower than that of the atmosphere. A perfect vacuum does not exist in practice; even interstellar space contains a few atoms in every cubic centimetre. Laboratory vacuums are produced with pumps and are used in electron microscopes, particle accelerators and chip manufacturing."),
            ("Special relativity",
             "Albert Einstein's special theory of relativity, published in 1905, rests on two postulates: the laws of physics are the same in all inertial frames, and light in empty space moves at the same speed for every observer. Consequences include time dilation, length contraction and the equivalence of mass and energy, E = mc²."),
            ("Michelson-Morley experiment",
             "In 1887 Albert Michelson and Edward Morley used an interferometer to look for differences in the speed of light in different directions, which were expected if light travelled through a stationary luminiferous aether. They found no significant difference, a null result that undermined the aether theory."),
        ],
    },
    # --- animals ---------------------------------------------------------
    {
        "query": "why do cats purr and what does it mean",
        "positives": [
            (2, "Purring",
             "Cats purr in many situations, not only when content. Mother cats and kittens purr while nursing, which may help them communicate, and cats also purr when injured, giving birth or seriously ill. Researchers suggest purring can be a self-soothing signal, and some have proposed that its low frequencies, around 25 to 150 hertz, may aid healing of bone and tissue."),
            (1, "Mechanism of purring",
             "Cats purr using muscles of the larynx, which rapidly open and close the glottis as the cat breathes in and out, making the vocal folds vibrate. A study published in 2023 found that pads of connective tissue in the vocal folds of domestic cats can also sustain very low-frequency vibration without repeated nerve signals."),
        ],
        "negatives": [
            ("Roaring in big cats",
             "Lions, tigers, leopards and jaguars, the big cats of the genus Panthera, can roar and are generally thought unable to purr continuously as smaller cats do. Their ability to roar is linked to an elastic hyoid apparatus and large, specialised vocal folds. Cheetahs and pumas, by contrast, purr but cannot roar."),
            ("Cat communication",
             "Domestic cats communicate with a range of sounds, including meows, trills, hisses and growls. Adult cats rarely meow at one another; meowing seems to be directed mostly at humans. Cats also signal with their tails and ears and leave scent marks from glands on the cheeks and paws."),
            ("Kneading (cats)",
             "Many cats knead soft surfaces by pushing alternately with their front paws, a behaviour sometimes called making biscuits. Kittens knead their mother's belly to stimulate milk flow, and adult cats often knead when relaxed, frequently while they purr. Kneading may also leave scent from glands in the paw pads."),
            ("Domestication of the cat",
             "Domestic cats descend from the African wildcat, Felis lybica. They probably began living alongside people in the Near East around 10,000 years ago, drawn by rodents in the grain stores of early farming villages. A cat buried with a human on Cyprus about 9,500 years ago is among the earliest evidence."),
            ("Cat sleep",
             "Domestic cats sleep for roughly 12 to 16 hours a day, often in short naps. They are crepuscular, most active at dawn and dusk, which reflects the hunting habits of their wild ancestors. Kittens and elderly cats tend to sleep even more than young adults."),
            ("Tail wagging in dogs",
             "Dogs wag their tails to communicate, not simply to show happiness, and a wag does not mean the same thing as the swishing tail of a cat, which often signals irritation. A loose, wide wag usually shows friendliness, while a stiff, high wag can indicate arousal or tension. Studies have suggested that dogs wag more to the right when they see something they want to approach and more to the left when they want to withdraw."),
        ],
    },
    # --- biology ---------------------------------------------------------
    {
        "query": "how do bees make honey from nectar",
        "positives": [
            (2, "Honey production by bees",
             "Forager bees suck nectar from flowers and store it in a special honey stomach, where enzymes begin breaking its sucrose into glucose and fructose. Back at the hive the nectar is passed from bee to bee and deposited in wax cells. Workers fan their wings to evaporate water until the honey is about 17 to 18 percent water, then cap the cells with wax."),
        ],
        "negatives": [
            ("Beeswax",
             "Beeswax is secreted by young worker bees from eight glands on the underside of the abdomen. The bees chew the wax flakes and shape them into the hexagonal cells of the honeycomb. People have used beeswax for candles, polishes, cosmetics and the lost-wax method of casting metal."),
            ("Honey as food",
             "Honey is about 80 percent sugar, mostly fructose and glucose, with small amounts of minerals and antioxidants. Its low water content and acidity make it resistant to spoilage, and edible honey has reportedly been found in ancient Egyptian tombs. It should not be given to infants under one year old because of the risk of botulism."),
            ("Waggle dance",
             "Honeybee foragers share the location of rich flowers through the waggle dance. The angle of the dance relative to vertical on the comb indicates the direction of the food relative to the Sun, and the duration of the waggle run indicates its distance. Karl von Frisch decoded the dance and shared the 1973 Nobel Prize."),
            ("Colony collapse disorder",
             "Colony collapse disorder is a phenomenon in which most of the worker bees abruptly disappear from a hive, leaving behind the queen, food and a few nurse bees. It drew wide attention in the United States from 2006. Suspected causes include varroa mites, viruses, pesticides such as neonicotinoids and poor nutrition."),
            ("Pollination",
             "Pollination is the transfer of pollen from the male parts of a flower to the female stigma, allowing fertilisation and seed production. Many plants attract pollinators such as bees, butterflies and birds with nectar and colourful petals. Around three quarters of the leading global food crops benefit at least partly from animal pollination."),
            ("Mead",
             "Mead is an alcoholic drink made by fermenting honey with water, sometimes flavoured with fruit, spices or hops. It is among the oldest known fermented beverages. Its strength varies from light, sparkling styles to strong dessert meads with more than 14 percent alcohol."),
        ],
    },
    # --- programming -----------------------------------------------------
    {
        "query": "difference between inner join and left join in SQL",
        "positives": [
            (2, "Join (SQL)",
             "In SQL, an inner join returns only the rows that have matching values in both tables. A left join, or left outer join, returns every row from the left table together with the matching rows from the right table; where no match exists, the right table's columns are filled with NULL. Left joins are used when unmatched rows must not be dropped."),
            (1, "Outer join",
             "SQL defines three kinds of outer join. A left outer join keeps all rows of the first table, a right outer join keeps all rows of the second, and a full outer join keeps all rows of both, padding missing values with NULL. Some databases long lacked the full form; SQLite, for example, added it only in version 3.39."),
        ],
        "negatives": [
            ("SQL",
             "SQL, or Structured Query Language, is the standard language for managing data in relational databases. It was developed at IBM in the early 1970s by Donald Chamberlin and Raymond Boyce, originally under the name SEQUEL. Its main statements include SELECT, INSERT, UPDATE and DELETE."),
            ("Database index",
             "A database index is a data structure, most often a B-tree, that speeds up lookups on one or more columns at the cost of extra storage and slower writes. Indexes on the columns used in join conditions and WHERE clauses can make queries dramatically faster. The query planner decides when an index is worth using."),
            ("Cross join",
             "A cross join in SQL returns the Cartesian product of two tables, pairing every row of the first with every row of the second. Joining a table of 100 rows with one of 50 rows therefore produces 5,000 rows. Cross joins are rarely intended and often appear by accident when a join condition is left out."),
            ("Hash join",
             "A hash join is an algorithm that database engines use to execute equality joins. The engine builds an in-memory hash table on the smaller input, keyed by the join column, then scans the larger input and probes the table for matches. Other join algorithms include nested loop joins and sort-merge joins."),
            ("Database normalisation",
             "Normalisation is the process of organising a relational database to reduce redundancy, typically by splitting data into several related tables linked by keys. Edgar F. Codd introduced the first normal form in 1970. A well-normalised schema needs joins to bring related data back together in queries."),
            ("UNION in SQL",
             "The UNION operator in SQL combines the results of two SELECT statements with the same number of columns, stacking their rows. UNION removes duplicate rows, while UNION ALL keeps them and is usually faster. Unlike a join, which adds columns from another table, a union adds rows."),
        ],
    },
    # --- finance ---------------------------------------------------------
    {
        "query": "what affects your credit score the most",
        "positives": [
            (2, "FICO score factors",
             "FICO, the most widely used credit scoring model in the United States, weights five categories: payment history (about 35 percent), amounts owed (30 percent), length of credit history (15 percent), new credit (10 percent) and credit mix (10 percent). Paying bills on time therefore has the largest effect on a credit score."),
        ],
        "negatives": [
            ("Credit score",
             "A credit score is a number that summarises how likely a person is to repay borrowed money, based on information in their credit reports. In the United States, FICO and VantageScore scores both range from 300 to 850. Lenders use scores to decide whether to approve a loan and which interest rate to charge."),
            ("Credit report",
             "A credit report is a record of a person's borrowing and repayment history compiled by a credit bureau. In the United States the three major bureaus are Equifax, Experian and TransUnion, and consumers can request free copies of their reports. Errors on a report can be disputed with the bureau."),
            ("Hard and soft inquiries",
             "When a lender checks a person's credit to decide on an application, it makes a hard inquiry, which may lower a score slightly for a short time. Soft inquiries, such as checking one's own score or pre-approval offers, leave it unchanged. Several mortgage or car loan inquiries within a short window are often counted as one."),
            ("Social credit system",
             "China's social credit system is a set of government and commercial initiatives for rating the trustworthiness of companies and individuals. Much of it concerns corporate regulatory compliance and court blacklists of people who fail to pay judgements, who can be barred from buying plane or train tickets."),
            ("Credit card",
             "A credit card lets its holder borrow money from the issuer up to a set limit to pay for goods and services. If the full balance is paid each month, many cards charge no interest on purchases, and issuers report each account's balance to the credit bureaus. The first general-purpose charge card, Diners Club, was introduced in 1950."),
            ("Personal bankruptcy",
             "Bankruptcy is a legal process for people or businesses that cannot repay their debts. In the United States, Chapter 7 bankruptcy liquidates certain assets to pay creditors, while Chapter 13 sets up a repayment plan lasting three to five years. A bankruptcy can remain on a credit report for up to ten years."),
        ],
    },
    # --- sport -----------------------------------------------------------
    {
        "query": "why is a marathon 26.2 miles long",
        "positives": [
            (2, "Marathon distance",
             "The marathon's official length of 42.195 kilometres, or 26.2 miles, comes from the 1908 London Olympics, where the course was laid out from Windsor Castle to the royal box in the Olympic stadium. Earlier marathons were about 40 kilometres. The 1908 distance was adopted as the standard by the international athletics federation in 1921."),
            (1, "Legend of Pheidippides",
             "The marathon race commemorates the legend of a Greek messenger, often named Pheidippides, who ran from the battlefield of Marathon to Athens to announce victory over the Persians in 490 BC and then collapsed and died. The distance between Marathon and Athens, roughly 40 kilometres, set the approximate length of the first Olympic marathon in 1896."),
        ],
        "negatives": [
            ("Boston Marathon",
             "The Boston Marathon, first run in 1897, is the world's oldest annual marathon. It is held on Patriots' Day in April, and most runners must meet a qualifying time for their age group. Heartbreak Hill, near the 20-mile mark in Newton, is its most famous climb."),
            ("Sub-two-hour marathon",
             "Running a marathon in under two hours was long considered a barrier. Eliud Kipchoge of Kenya covered the distance in 1:59:40 in Vienna in 2019, but the run used rotating pacers and a pace car, so it was not recognised as a world record. Official records must be set in open competition on certified courses."),
            ("Ultramarathon",
             "An ultramarathon is any footrace longer than the marathon distance. Common formats include 50-kilometre and 100-mile races and events lasting a fixed time, such as 24 hours. The Comrades Marathon in South Africa, about 89 kilometres long, has been run since 1921."),
            ("Half marathon",
             "The half marathon covers 21.0975 kilometres, or about 13.1 miles, exactly half the marathon distance. It is one of the most popular road racing distances because it offers an endurance challenge with less demanding training. Many marathon training plans include a half marathon as a test race."),
            ("Hitting the wall",
             "Many marathon runners experience hitting the wall, a sudden loss of energy often around 30 to 35 kilometres, or roughly 20 miles, into the race. It happens when the glycogen stored in the muscles and liver runs low. Eating carbohydrates before and during the race helps delay it."),
            ("Mile",
             "The international mile is defined as exactly 1,609.344 metres. It derives from the Roman mille passus, a thousand paces. In 1593 an English statute set the mile at 5,280 feet, or eight furlongs. The nautical mile, used at sea and in aviation, is longer, at exactly 1,852 metres."),
        ],
    },
    # --- geography -------------------------------------------------------
    {
        "query": "what is the capital city of Australia",
        "positives": [
            (2, "Canberra",
             "Canberra is the capital city of Australia. It lies in the Australian Capital Territory, between Sydney and Melbourne, and is home to Parliament House, the High Court and many national institutions. The city was purpose-built after Federation; its design came from an international competition won by the American architects Walter Burley Griffin and Marion Mahony Griffin."),
            (1, "Choosing the federal capital",
             "When the Australian colonies federated in 1901, Sydney and Melbourne both wanted to be the national capital. As a compromise, the Constitution required the capital to be in New South Wales but at least 100 miles from Sydney, with Parliament sitting in Melbourne until it was ready. Parliament moved to the new capital in 1927."),
        ],
        "negatives": [
            ("Sydney",
             "Sydney is the largest city in Australia and the capital of the state of New South Wales. It is known for its harbour, the Sydney Opera House, completed in 1973, and the Sydney Harbour Bridge. It grew from the first British colony in Australia, established at Sydney Cove in 1788."),
            ("Melbourne",
             "Melbourne, the capital of the state of Victoria, is the second-largest city in Australia. It hosts the Australian Open tennis tournament and the Melbourne Cup horse race, and it has repeatedly ranked highly in international liveability surveys. Its central grid of streets is known as the Hoddle Grid."),
            ("States and territories of Australia",
             "Australia is a federation of six states, New South Wales, Victoria, Queensland, Western Australia, South Australia and Tasmania, together with several territories, chief among them the Northern Territory. Each state has its own parliament and capital city; Perth, for example, is the capital of Western Australia and Hobart the capital of Tasmania."),
            ("Wellington",
             "Wellington is the capital city of New Zealand, located at the southern tip of the North Island on Cook Strait. It replaced Auckland as the capital in 1865 because of its more central position. Strong winds funnel through the strait, earning it the nickname Windy Wellington."),
            ("Great Barrier Reef",
             "The Great Barrier Reef, off the coast of Queensland in Australia, is the world's largest coral reef system, stretching for more than 2,300 kilometres. It is made up of thousands of individual reefs and hundreds of islands. Rising sea temperatures have caused repeated episodes of mass coral bleaching."),
            ("Planned capital cities",
             "A capital city is the municipality that serves as the seat of a country's government. Several countries built planned capitals to avoid favouring an existing city or to develop the interior, including Brasília in Brazil, inaugurated in 1960, and Abuja, which replaced Lagos as the capital of Nigeria in 1991."),
        ],
    },
    # --- history ---------------------------------------------------------
    {
        "query": "who invented the printing press",
        "positives": [
            (2, "Johannes Gutenberg",
             "Johannes Gutenberg, a goldsmith from Mainz in Germany, invented the movable-type printing press around 1440. He combined a hand mould for casting metal type, an oil-based ink and a screw press adapted from those used for making wine and olive oil. His most famous work, the Gutenberg Bible, was completed around 1455."),
            (1, "Movable type in East Asia",
             "Movable type was invented in China by Bi Sheng around 1040, using characters made of baked clay. In Korea, metal movable type was in use by the thirteenth century; the Jikji, printed in 1377, is the oldest surviving book printed with movable metal type. These techniques predate the printing press in Europe."),
        ],
        "negatives": [
            ("Printing revolution",
             "The spread of printing in Europe after the mid-fifteenth century greatly reduced the cost of books. By 1500, presses were operating in more than 200 European towns and had produced millions of copies. Historians link the printing revolution to the Protestant Reformation, the Scientific Revolution and rising literacy."),
            ("Woodblock printing",
             "Woodblock printing, in which an entire page is carved in relief on a block of wood, was used in China by the time of the Tang dynasty. The Diamond Sutra, dated 868, is the oldest known dated printed book. Japanese artists later used the technique for colour prints such as those of Hokusai."),
            ("Offset printing",
             "Offset lithography is the most common commercial printing method for books, newspapers and packaging. The inked image is transferred, or offset, from a plate to a rubber blanket and then to paper. It relies on the fact that oil and water do not mix, the principle behind lithography, which Alois Senefelder invented in 1796."),
            ("3D printing",
             "3D printing, or additive manufacturing, builds objects layer by layer from a digital model. Charles Hull invented stereolithography in the 1980s, and fused deposition modelling, which extrudes melted plastic, was developed by Scott Crump soon after. The technique is used for prototypes, medical implants and spare parts."),
            ("William Caxton",
             "William Caxton set up the first printing press in England at Westminster in 1476. Among the books he published was Geoffrey Chaucer's The Canterbury Tales. Caxton also translated many works into English himself, and his choices influenced the standardisation of English spelling."),
            ("Rotary printing press",
             "The rotary printing press, in which the images are curved around cylinders, printed much faster than flat presses. Richard March Hoe patented a rotary press in 1847 that could turn out thousands of sheets an hour, making cheap, large-circulation newspapers possible."),
        ],
    },
    # --- health ----------------------------------------------------------
    {
        "query": "how much water should an adult drink per day",
        "positives": [
            (2, "Daily water intake",
             "The US National Academies suggest an adequate total water intake of about 3.7 litres a day for adult men and 2.7 litres for adult women, counting water from all drinks and food. Around a fifth usually comes from food. Needs rise with heat, physical activity, pregnancy and breastfeeding."),
        ],
        "negatives": [
            ("Dehydration",
             "Dehydration occurs when the body loses more water than it takes in through food and drink. Early signs include thirst, dark urine, headache and tiredness; severe dehydration can cause confusion, a rapid heartbeat and fainting. Infants and older adults are most at risk. Oral rehydration solutions replace both water and salts."),
            ("Hyponatremia",
             "Drinking very large amounts of water in a short time can dilute the sodium in the blood, a condition called hyponatremia or water intoxication. Symptoms range from nausea and headache to seizures. It has occurred in endurance athletes who drank heavily during long races; the kidneys of a healthy adult can excrete only about one litre of water an hour."),
            ("Drinking water",
             "Drinking water, or potable water, is water safe to drink or use in preparing food. According to the World Health Organization, about 2 billion people lack safely managed drinking water services. Treatment typically involves coagulation, sedimentation, filtration and disinfection with chlorine or ultraviolet light."),
            ("Body water",
             "Water makes up about 50 to 60 percent of an adult's body weight, a higher share in men than in women because muscle holds more water than fat does. About two thirds of body water is inside cells, and the rest is in blood plasma and the fluid between cells."),
            ("Caffeine",
             "Caffeine is a stimulant found in coffee, tea, cola and energy drinks. For healthy adults, up to about 400 milligrams per day, roughly four cups of brewed coffee, is generally considered safe. Caffeine has a mild diuretic effect, but regular drinkers develop tolerance to it."),
            ("Water footprint",
             "A product's water footprint is the total volume of fresh water needed to make it. Estimates suggest about 15,000 litres are needed for a kilogram of beef and about 140 litres for a single cup of coffee, most of it used in growing the crops or the animal feed. Counted this way, a typical diet uses several thousand litres of water per day."),
        ],
    },
    # --- astronomy -------------------------------------------------------
    {
        "query": "what happens at the event horizon of a black hole",
        "positives": [
            (2, "Event horizon",
             "The event horizon is the boundary around a black hole beyond which nothing, not even light, can escape. An observer falling in notices nothing special when crossing it, but a distant observer sees the falling object slow down and grow dimmer and redder, never quite seeing it cross. For a non-rotating black hole its radius is the Schwarzschild radius."),
        ],
        "negatives": [
            ("Hawking radiation",
             "In 1974 Stephen Hawking showed that quantum effects should cause black holes to emit thermal radiation, now called Hawking radiation, and so slowly lose mass. For black holes of stellar mass the radiation is extremely faint, far weaker than the cosmic microwave background, so it has never been observed directly."),
            ("Event Horizon Telescope",
             "The Event Horizon Telescope is a global network of radio telescopes linked to act as a single Earth-sized dish. In 2019 it released the first image of a black hole's shadow, at the centre of the galaxy M87, and in 2022 an image of Sagittarius A*, the black hole at the centre of the Milky Way."),
            ("Sagittarius A*",
             "Sagittarius A* is the supermassive black hole at the centre of the Milky Way, about 26,000 light-years from Earth, with a mass of roughly four million Suns. Its existence was established by tracking stars orbiting it, work for which Reinhard Genzel and Andrea Ghez shared the 2020 Nobel Prize in Physics."),
            ("Stellar black hole",
             "A stellar-mass black hole forms when a very massive star, typically more than about 20 times the mass of the Sun, exhausts its nuclear fuel and its core collapses under its own gravity. The collapse may be accompanied by a supernova. Such black holes usually have between about 5 and several tens of solar masses."),
            ("Gravitational waves",
             "In 2015 the LIGO detectors in the United States recorded gravitational waves from two black holes, about 36 and 29 times the mass of the Sun, merging more than a billion light-years away. The signal was announced in 2016, confirming a major prediction of general relativity, and led to the 2017 Nobel Prize in Physics."),
            ("Neutron star",
             "A neutron star is the collapsed core of a massive star, typically about 20 kilometres across yet more massive than the Sun. It is so dense that a teaspoon of its material would weigh billions of tonnes. If the collapsing core is heavy enough, it continues to shrink and becomes a black hole instead."),
        ],
    },
    # --- technology ------------------------------------------------------
    {
        "query": "how does a refrigerator keep food cold",
        "positives": [
            (2, "Vapour-compression refrigeration",
             "A refrigerator keeps food cold by pumping heat out of its insulated cabinet. A refrigerant circulates in a closed loop: it evaporates in coils inside the cabinet, absorbing heat, then a compressor squeezes the vapour and raises its temperature, and the heat is released through condenser coils at the back before the fluid passes an expansion valve and returns to the evaporator."),
        ],
        "negatives": [
            ("Safe food storage temperatures",
             "Food safety agencies advise keeping a refrigerator at or below 4 °C (40 °F) and a freezer at -18 °C (0 °F). Between about 4 and 60 °C, a range often called the danger zone, bacteria multiply rapidly. Leftovers should be cooled and put in the fridge within two hours of cooking."),
            ("Icebox",
             "Before electric refrigerators became common, many households used an icebox, a wooden cabinet lined with tin or zinc and insulated with materials such as sawdust or cork. A block of ice, delivered regularly by an iceman, sat in a top compartment so that cold air sank over the food below."),
            ("Refrigerant",
             "Refrigerants are the working fluids of refrigerators, freezers and air conditioners. Early refrigerators used toxic gases such as ammonia, sulphur dioxide and methyl chloride. These gave way to chlorofluorocarbons, later banned for damaging the ozone layer, and then to hydrofluorocarbons, which are now being phased down because they are potent greenhouse gases."),
            ("Food preservation",
             "Food preservation slows the growth of microorganisms and the chemical changes that spoil food. Traditional methods include drying, salting, smoking, fermenting and pickling. Canning, developed in the early nineteenth century, seals food in containers and heats it to kill microbes, while cold storage merely slows bacteria without killing them."),
            ("Willis Carrier",
             "Willis Carrier designed the first modern electrical air conditioning system in 1902 for a printing plant in Brooklyn, where humidity was making paper swell and colours misalign. Air conditioning later transformed cinemas, offices and homes, and made hot regions such as the American Sun Belt more attractive places to live."),
            ("Freezer burn",
             "Freezer burn occurs when frozen food loses moisture through sublimation, as ice crystals on its surface turn directly into water vapour. The affected areas become dry, discoloured and leathery. The food remains safe to eat but loses quality; wrapping it tightly and removing air from the packaging prevents the problem."),
            ("Vacuum flask",
             "A vacuum flask keeps hot drinks hot and cold drinks cold by surrounding the liquid with a vacuum between two walls, which blocks heat transfer by conduction and convection. Silvered surfaces reduce heat loss by radiation. The design was invented by the Scottish scientist James Dewar in 1892."),
        ],
    },
    # --- gardening -------------------------------------------------------
    {
        "query": "when is the best time to plant tulip bulbs",
        "positives": [
            (2, "Planting tulips",
             "Tulip bulbs are planted in autumn, once the soil has cooled, usually when night temperatures stay around 10 °C or lower; in much of Europe and North America this means October or November. Planting too early in warm soil encourages diseases such as tulip fire. The bulbs need a long cold period in the ground to flower in spring."),
            (1, "Pre-chilling bulbs",
             "In regions with mild winters, tulip bulbs may not get enough cold to bloom properly. Gardeners there store the bulbs in a refrigerator for around twelve weeks, away from ripening fruit, which gives off ethylene, before planting them out in early winter."),
        ],
        "negatives": [
            ("Tulip mania",
             "Tulip mania was a period in the Dutch Golden Age when prices for some tulip bulbs reached extraordinary levels before collapsing abruptly in February 1637. The most prized were 'broken' tulips with streaked petals, an effect later traced to a virus. Historians now debate how widespread the financial damage really was."),
            ("Tulip",
             "Tulips are spring-flowering perennial plants that grow from bulbs, forming the genus Tulipa, in the lily family, Liliaceae. Wild species are native to a belt stretching from southern Europe and North Africa to Central Asia. Tulips were cultivated in the Ottoman Empire before reaching western Europe in the sixteenth century."),
            ("Keukenhof",
             "Keukenhof, near Lisse in the Netherlands, is one of the world's largest flower gardens. Around seven million bulbs are planted in the park, which opens to the public for about eight weeks from late March, when tulips, daffodils and hyacinths are in bloom."),
            ("Daffodil",
             "Daffodils, of the genus Narcissus, are spring-flowering bulbs with a trumpet-shaped corona surrounded by petals. All parts of the plant are poisonous, which protects the bulbs from rodents and deer. The daffodil is a national symbol of Wales, traditionally worn on St David's Day, 1 March."),
            ("Planting garlic",
             "Garlic is usually planted in autumn, a few weeks before the ground freezes, by pushing individual cloves pointed end up into the soil. The cold period helps the cloves divide into full bulbs, which are harvested the following summer once the lower leaves turn brown."),
            ("After tulips flower",
             "After tulips finish flowering, their leaves should be left to die back naturally for about six weeks, since they feed the bulb for the following year. In wet or warm gardens some growers then lift the bulbs, dry them and store them in a cool, airy place until they go back into the ground."),
        ],
    },
    # --- art -------------------------------------------------------------
    {
        "query": "who painted the ceiling of the Sistine Chapel",
        "positives": [
            (2, "Sistine Chapel ceiling",
             "The ceiling of the Sistine Chapel in Vatican City was painted by Michelangelo between 1508 and 1512, commissioned by Pope Julius II. Its central panels show nine scenes from the Book of Genesis, including the Creation of Adam, surrounded by prophets, sibyls and the ancestors of Christ. Michelangelo worked in fresco from scaffolding of his own design."),
        ],
        "negatives": [
            ("The Last Judgment",
             "The Last Judgment is a fresco covering the altar wall of the Sistine Chapel, painted between 1536 and 1541 for Pope Paul III. Its many nude figures caused controversy, and after the artist's death Daniele da Volterra was hired to paint drapery over some of them, earning the nickname 'the breeches maker'."),
            ("Sistine Chapel wall frescoes",
             "The side walls of the Sistine Chapel were painted in the early 1480s by a team of artists that included Sandro Botticelli, Pietro Perugino, Domenico Ghirlandaio and Cosimo Rosselli. Their frescoes show parallel scenes from the life of Moses and the life of Christ, facing each other across the chapel."),
            ("Restoration of the Sistine Chapel frescoes",
             "A major restoration of the Sistine Chapel frescoes took place between 1980 and 1994. Conservators removed centuries of candle soot, grime and layers of animal glue and varnish, revealing much brighter colours. Some critics argued that the cleaning had also removed final touches added by the painter."),
            ("Papal conclave",
             "A papal conclave is the meeting of the College of Cardinals to elect a new pope. Since 1878 conclaves have been held in the Sistine Chapel. After each round of voting the ballots are burned: black smoke from the chimney signals no decision, and white smoke announces that a pope has been chosen."),
            ("Raphael Rooms",
             "The Raphael Rooms are four reception rooms in the Apostolic Palace of the Vatican, painted with frescoes by Raphael and his workshop between about 1508 and 1524. The best known, The School of Athens, shows ancient philosophers including Plato and Aristotle gathered in a grand classical hall."),
            ("Fresco",
             "Fresco is a technique of mural painting in which pigments mixed with water are applied to freshly laid, wet lime plaster. As the plaster dries, the pigment becomes part of the wall. Because each area must be painted before its plaster sets, artists work in daily sections called giornate."),
            ("Palais Garnier ceiling",
             "The ceiling of the auditorium of the Palais Garnier, the Paris opera house, has carried a painting by Marc Chagall since 1964. It was commissioned by the culture minister André Malraux and mounted over the original ceiling painting by Jules-Eugène Lenepveu, which remains in place underneath."),
        ],
    },
    # --- linguistics -----------------------------------------------------
    {
        "query": "how many languages are spoken in India",
        "positives": [
            (2, "Languages of India",
             "India is home to hundreds of languages. The 2011 census identified 121 languages spoken by 10,000 or more people, and the Ethnologue catalogue lists more than 400 living languages in the country. Most belong to the Indo-Aryan and Dravidian families, with smaller groups of Austroasiatic and Tibeto-Burman languages."),
        ],
        "negatives": [
            ("Hindi",
             "Hindi, written in the Devanagari script, is the most widely spoken language in India, with over 500 million speakers when related dialects are counted. Together with English, it is an official language of the central government. Hindi and Urdu share a common spoken base but differ in script and in much of their formal vocabulary."),
            ("Dravidian languages",
             "The Dravidian languages are spoken mainly in southern India and northern Sri Lanka. The four largest are Telugu, Tamil, Kannada and Malayalam, while Brahui, spoken in Pakistan, is a distant outlier. Tamil has a literary tradition stretching back more than two thousand years."),
            ("Population of India",
             "India became the world's most populous country in 2023, overtaking China, with more than 1.4 billion people according to United Nations estimates. More than a third of its people live in cities. Its most populous state, Uttar Pradesh, has more inhabitants than most countries."),
            ("Languages of Switzerland",
             "Switzerland has four national languages: German, French, Italian and Romansh. German is spoken by about three fifths of the population, mostly in the north and centre, French in the west and Italian in the south. Romansh, spoken in parts of Graubünden, is the main language of fewer than one percent of residents."),
            ("Sanskrit",
             "Sanskrit is a classical language of South Asia and a liturgical language of Hinduism, Buddhism and Jainism. Its grammar was described in detail by Pāṇini around the fourth century BC. Although few people speak it natively today, it strongly influenced many languages of India and Southeast Asia."),
            ("Indian cinema",
             "India produces more feature films each year than any other country. Besides the Hindi-language industry based in Mumbai, often called Bollywood, there are major film industries working in Telugu, Tamil, Malayalam, Kannada and Bengali, each with its own stars, studios and audiences."),
        ],
    },
]

# Passages that belong to no query.
FILLER = [
    ("Origami",
     "Origami is the art of folding paper into decorative shapes without cutting or gluing. Traditional Japanese models include the crane, the frog and the balloon. Mathematicians have studied the rules of folding, and techniques from origami are used to pack solar panels and medical stents into small spaces."),
    ("Lighthouse",
     "A lighthouse is a tower with a bright light at the top that helps ships navigate coasts and avoid hazards. The Pharos of Alexandria, built in the third century BC, was one of the Seven Wonders of the Ancient World. Most lighthouses today are automated and no longer need resident keepers."),
    ("Chess",
     "Chess is a two-player strategy board game played on a board of 64 squares. Each player starts with sixteen pieces and aims to checkmate the opponent's king. The game reached Europe through Persia and the Arab world, and its modern rules, including the powerful queen, took shape in Spain and Italy in the late fifteenth century."),
    ("Bamboo",
     "Bamboo is a group of grasses that includes some of the fastest-growing plants in the world; certain species can grow almost a metre in a single day. Its strong, light stems are used for scaffolding, furniture, flooring and paper. Giant pandas feed almost entirely on bamboo."),
    ("Penny Black",
     "The Penny Black, issued in the United Kingdom in May 1840, was the world's first adhesive postage stamp. It bore a profile of Queen Victoria and paid for letters of up to half an ounce sent anywhere in the country. Rowland Hill, who proposed the reform, argued that prepayment by the sender would make the post cheaper and simpler."),
    ("Hook-and-loop fastener",
     "Hook-and-loop fasteners were invented by the Swiss engineer George de Mestral, who was inspired after examining burrs that clung to his dog's fur following a walk in the 1940s. One strip carries tiny hooks and the other soft loops. He patented the design in the 1950s and named it Velcro."),
    ("Antarctica",
     "Antarctica is the coldest, driest and windiest continent. About 98 percent of it is covered by ice averaging nearly two kilometres thick. The Antarctic Treaty, signed in 1959, reserves the continent for peaceful scientific research, and no country exercises undisputed sovereignty over any part of it."),
    ("Safety bicycle",
     "The safety bicycle, with two wheels of similar size and a chain driving the rear wheel, appeared in England in the 1880s and replaced the high-wheeled penny-farthing. The pneumatic tyre, developed by John Boyd Dunlop in 1888, made riding far more comfortable. Bicycles remain one of the most energy-efficient means of transport."),
    ("Glass",
     "Glass is an amorphous solid, usually made by melting sand, soda ash and limestone together and cooling the mixture quickly so that it does not crystallise. Glass beads and small objects were made in Mesopotamia and Egypt more than 4,000 years ago, and glassblowing was developed on the eastern Mediterranean coast in the first century BC."),
    ("Penguin",
     "Penguins are flightless seabirds found almost exclusively in the Southern Hemisphere. Their wings have evolved into stiff flippers for swimming, and some species dive hundreds of metres deep. The emperor penguin, the largest species, breeds during the Antarctic winter, and the male incubates the single egg on his feet."),
    ("Tea",
     "Tea is made by steeping the cured leaves of Camellia sinensis, an evergreen shrub native to East Asia. Green, oolong and black teas come from the same plant and differ mainly in how much the leaves are oxidised after picking. Tea is among the most widely consumed beverages in the world."),
    ("Jazz",
     "Jazz originated in the African American communities of New Orleans in the late nineteenth and early twentieth centuries, drawing on blues, ragtime and brass band music. Improvisation, swung rhythms and call-and-response patterns are among its hallmarks. Louis Armstrong, Duke Ellington and Charlie Parker were among its most influential figures."),
    ("Panama Canal",
     "The Panama Canal, opened in 1914, crosses the Isthmus of Panama to connect the Atlantic and Pacific oceans. Ships are raised and lowered about 26 metres by a series of locks to and from Gatun Lake, an artificial lake created by damming the Chagres River. A set of larger locks opened in 2016."),
    ("Mount Everest",
     "Mount Everest, on the border between Nepal and the Tibet Autonomous Region of China, is the highest mountain above sea level, at 8,849 metres according to a survey published in 2020. Edmund Hillary and Tenzing Norgay made the first confirmed ascent in 1953. Most climbers use bottled oxygen on the upper slopes."),
    ("Haiku",
     "A haiku is a short form of Japanese poetry, traditionally made of three phrases of five, seven and five sound units and containing a reference to a season. Matsuo Bashō, writing in the seventeenth century, is its most celebrated master. In English, haiku are usually written in three short lines, with syllable counts often treated loosely."),
    ("Roman concrete",
     "Roman concrete, or opus caementicium, was made from lime, volcanic ash and rubble. Structures such as the Pantheon in Rome, whose dome is still the largest unreinforced concrete dome in the world, have survived for nearly two thousand years. Researchers have found that lime clasts in the mix can help cracks heal when water seeps in."),
    ("Rings of Saturn",
     "Saturn's rings are made mostly of water ice, in pieces ranging from tiny grains to boulders several metres across. Although the main rings stretch for hundreds of thousands of kilometres, they are generally only about ten metres thick. Their age is debated; some measurements suggest they formed only a few hundred million years ago."),
    ("Typewriter",
     "The first commercially successful typewriter was developed in the United States by Christopher Latham Sholes and colleagues and sold by E. Remington and Sons from 1874. It introduced the QWERTY keyboard layout, still the standard on computer keyboards. Electric typewriters became common in offices by the middle of the twentieth century."),
    ("Octopus",
     "Octopuses have three hearts, blue copper-based blood and a large, complex nervous system, with around two thirds of their neurons located in their arms. They can change the colour and texture of their skin in a fraction of a second for camouflage. Most species live only one to two years."),
    ("Sundial",
     "A sundial tells the time from the position of a shadow cast by a pointer, called a gnomon, onto a marked surface. For accuracy the gnomon must be aligned parallel to Earth's axis. Sundials show local solar time, which differs from clock time by up to about sixteen minutes over the year, a difference called the equation of time."),
    ("Aurora",
     "Auroras are displays of light in the sky near the polar regions, caused by charged particles from the Sun colliding with gases in the upper atmosphere. Oxygen produces the common green and rarer red colours, while nitrogen gives blue and purple hues. The northern lights are called the aurora borealis and the southern lights the aurora australis."),
]


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def build():
    queries = []  # (query_id, text)
    passages = []  # (title, text, query_id or None, score or None)

    for number, topic in enumerate(TOPICS, start=1):
        query_id = f"q{number:03d}"
        queries.append((query_id, topic["query"]))
        for score, title, text in topic["positives"]:
            passages.append((title, text, query_id, score))
        for title, text in topic["negatives"]:
            passages.append((title, text, None, None))
    for title, text in FILLER:
        passages.append((title, text, None, None))

    # Assign doc ids in order of text hash, so ids carry no topic or label.
    passages.sort(key=lambda p: text_hash(p[1]))
    corpus = []
    positives = []
    for number, (title, text, query_id, score) in enumerate(passages, start=1):
        doc_id = f"d{number:04d}"
        corpus.append((doc_id, title, text))
        if query_id is not None:
            positives.append((query_id, doc_id, score))
    positives.sort()

    queries_df = pl.DataFrame(
        {"query_id": [q[0] for q in queries], "text": [q[1] for q in queries]},
        schema={"query_id": pl.String, "text": pl.String},
    )
    corpus_df = pl.DataFrame(
        {
            "doc_id": [d[0] for d in corpus],
            "title": [d[1] for d in corpus],
            "text": [d[2] for d in corpus],
        },
        schema={"doc_id": pl.String, "title": pl.String, "text": pl.String},
    )
    positives_df = pl.DataFrame(
        {
            "query_id": [p[0] for p in positives],
            "doc_id": [p[1] for p in positives],
            "score": [p[2] for p in positives],
        },
        schema={"query_id": pl.String, "doc_id": pl.String, "score": pl.Int64},
    )
    return queries_df, corpus_df, positives_df


def main():
    queries_df, corpus_df, positives_df = build()
    queries_df.write_parquet(OUT_DIR / "queries.parquet")
    corpus_df.write_parquet(OUT_DIR / "corpus.parquet")
    positives_df.write_parquet(OUT_DIR / "positives.parquet")
    print(
        f"wrote {queries_df.height} queries, {corpus_df.height} passages, "
        f"{positives_df.height} positive pairs to {OUT_DIR}"
    )


if __name__ == "__main__":
    main()
