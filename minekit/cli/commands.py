"""The commands: one per stage (minekit.registry), each a signature of flags with their help; the
decorator calls the stage with them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from minekit.cli.app import DEFAULT, CandidatesOpt, CorpusOpt, OutOpt, PositivesOpt, QueriesOpt, _threshold, command


# -- validate / info -----------------------------------------------------------------------------

@command("validate")
def validate(queries: QueriesOpt, positives: PositivesOpt, corpus: CorpusOpt) -> None:
    """Check the three input files against minekit's data contract, and nothing else.

    Example: minekit validate --queries q.parquet --positives p.parquet --corpus c.parquet
    """


@command("info")
def info(path: Annotated[Path, typer.Argument(help="A parquet file minekit wrote, or a dataset folder.")]) -> None:
    """Print the manifest (how it was made) that travels inside a minekit file or dataset folder.

    Example: minekit info datasets/demo/v1
    """


# -- import ----------------------------------------------------------------------------------------

AnchorColumnOpt = Annotated[str, typer.Option(help="Column holding the query text.")]
PositiveColumnOpt = Annotated[str, typer.Option(help="Column holding the positive passage text.")]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Replace files of an earlier import in --out.")]
ImportOutOpt = Annotated[Path, typer.Option("--out", help="Folder for queries/positives/corpus.parquet.")]
ImportCorpusOpt = Annotated[Optional[Path], typer.Option(
    "--corpus", help="A larger corpus (parquet doc_id, text[, title], or JSONL): texts found in it keep its ids, "
                     "and all of it is written.")]


@command("import.beir", out_folders=("out",))
def import_beir_cmd(
    folder: Annotated[Path, typer.Argument(help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv.")],
    out: ImportOutOpt,
    split: Annotated[str, typer.Option("--split", help="Which qrels/<split>.tsv gives the positives.")] = DEFAULT,
    overwrite: OverwriteOpt = DEFAULT,
) -> None:
    """Import a BEIR data set folder; only the split's queries are kept.

    Example: minekit import beir scifact/ --split train --out data/scifact
    """


@command("import.pairs", out_folders=("out",))
def import_pairs_cmd(
    file: Annotated[Path, typer.Argument(help="(anchor, positive[, negative_1..n]) texts: parquet, JSONL or a "
                                              "datasets folder.")],
    out: ImportOutOpt,
    anchor_column: AnchorColumnOpt = DEFAULT,
    positive_column: PositiveColumnOpt = DEFAULT,
    corpus: ImportCorpusOpt = DEFAULT,
    overwrite: OverwriteOpt = DEFAULT,
) -> None:
    """Import (anchor, positive) text pairs; ids are content hashes, repeated texts are merged.

    Columns negative or negative_1..n become negatives.parquet, a candidates file build takes as is.
    Example: minekit import pairs pairs.jsonl --corpus corpus.parquet --out data/pairs
    """


@command("import.hf", out_folders=("out",))
def import_hf_cmd(
    folder: Annotated[Path, typer.Argument(help="A datasets folder (save_to_disk) with anchor, positive[, negative...].")],
    out: ImportOutOpt,
    anchor_column: AnchorColumnOpt = DEFAULT,
    positive_column: PositiveColumnOpt = DEFAULT,
    corpus: ImportCorpusOpt = DEFAULT,
    overwrite: OverwriteOpt = DEFAULT,
) -> None:
    """Import a Hugging Face datasets folder of (anchor, positive[, negatives]) texts, as `minekit export --to hf` writes.

    Example: minekit import hf exports/demo-hf --out data/demo
    """


@command("import.flagembedding", out_folders=("out",))
def import_flagembedding_cmd(
    file: Annotated[Path, typer.Argument(help="FlagEmbedding JSONL: query, pos, neg[, pos_scores, neg_scores].")],
    out: ImportOutOpt,
    corpus: ImportCorpusOpt = DEFAULT,
    overwrite: OverwriteOpt = DEFAULT,
) -> None:
    """Import FlagEmbedding fine-tuning JSONL; content-hash ids, neg lists become negatives.parquet.

    Example: minekit import flagembedding train.jsonl --out data/fe
    """


@command("import.tevatron", out_folders=("out",))
def import_tevatron_cmd(
    file: Annotated[Path, typer.Argument(help="Tevatron JSONL: query_id, query, positive_passages, negative_passages.")],
    out: ImportOutOpt,
    overwrite: OverwriteOpt = DEFAULT,
) -> None:
    """Import Tevatron training JSONL; its query and passage ids are kept, negatives become negatives.parquet.

    Example: minekit import tevatron train.jsonl --out data/tev
    """


# -- mine ------------------------------------------------------------------------------------------


@command("mine.bm25", out_files=("out",))
def mine_bm25_cmd(queries: QueriesOpt, positives: PositivesOpt, corpus: CorpusOpt, out: OutOpt,
                  ) -> None:
    """BM25 (bm25s) over the corpus with the query as query; a query's positives never appear.

    Ranks run 1..n per query, ties broken by doc_id; documents with a zero score are not candidates.
    score_kind is bm25; positive_scores are each positive's BM25 score under the query (0: no shared term).
    Example: minekit mine bm25 --queries q.parquet --positives p.parquet --corpus c.parquet --out bm25.parquet
    """


@command("mine.passage-bm25", out_files=("out",))
def mine_passage_bm25_cmd(queries: QueriesOpt, positives: PositivesOpt, corpus: CorpusOpt, out: OutOpt,
                          ) -> None:
    """BM25 with each positive passage as the query (PassageBM25): passages like the answer, not the question.

    Merge rule: a query with several positives gets one ranked list, each document scored by its best
    BM25 score against any of them. A positive's score is its BM25 score against itself, so margins
    mean "how close to a copy of this positive".
    Example: minekit mine passage-bm25 --queries q.parquet --positives p.parquet --corpus c.parquet --out pbm25.parquet
    """


# -- filter ----------------------------------------------------------------------------------------

@command("filter", out_files=("out",))
def filter(
    candidates: CandidatesOpt,
    out: OutOpt,
    positives: Annotated[Optional[Path], typer.Option(
        "--positives", help="Also drop candidates that are positives in this file (is_positive).")] = DEFAULT,
    range_min: Annotated[int, typer.Option(help="Skip the top ranks: keep rank > range_min.")] = DEFAULT,
    range_max: Annotated[Optional[int], typer.Option(help="Keep rank <= range_max.")] = DEFAULT,
    min_score: Annotated[Optional[float], typer.Option(help="Keep score >= min_score.")] = DEFAULT,
    max_score: Annotated[Optional[float], typer.Option(help="Keep score <= max_score.")] = DEFAULT,
    absolute_margin: Annotated[Optional[float], typer.Option(
        help="Per positive: keep score <= positive - absolute_margin.")] = DEFAULT,
    relative_margin: Annotated[Optional[float], typer.Option(
        help="Per positive: keep score <= positive - |positive| * relative_margin (NV-Retriever's TopK-PercPos: "
             "0.05). A candidate too close to some positives is kept for the others' rows only.")] = DEFAULT,
    keep_dropped: Annotated[bool, typer.Option(help="Keep dropped rows, marked in a drop_reason column.")] = DEFAULT,
) -> None:
    """Drop likely false negatives by rank window, score and margin thresholds; counts each rule's drops.

    Example: minekit filter --candidates bm25.parquet --out filtered.parquet --range-min 2 --relative-margin 0.05
    """


# -- build -----------------------------------------------------------------------------------------

@command("build", out_folders=("out_dir",))
def build(
    candidates: Annotated[list[Path], typer.Option(
        "--candidates", help="Candidates parquet; repeat to merge several miners.")],
    queries: QueriesOpt,
    positives: PositivesOpt,
    corpus: CorpusOpt,
    name: Annotated[str, typer.Option(help="Dataset name: the folder under --out-dir.")],
    out_dir: Annotated[Path, typer.Option(help="Where dataset folders live.")] = DEFAULT,
    num_negatives: Annotated[int, typer.Option(help="Negatives per (query, positive): 1 by default, the hardest kept (see docs/negatives.md).")] = DEFAULT,
    format: Annotated[str, typer.Option(help="n-tuple (one row per positive, the default: MNRL uses every negative), triplet (one row per negative) or labeled-pair.")] = DEFAULT,
    sampling_strategy: Annotated[str, typer.Option(
        help="top: best-ranked negatives; random: seeded uniform sample; simans: seeded sample peaking near the "
             "positive's score; trisampler: seeded sample inside the query-positive-negative triangle (dense).")]
    = DEFAULT,
    relative_margin: Annotated[Optional[float], typer.Option(
        help="Per row: leave out candidates some miner scores above positive - |positive| * relative_margin "
             "for the row's own positive (TopK-PercPos; 'none' turns it off).", parser=lambda v: _threshold(v))]
    = DEFAULT,
    simans_a: Annotated[float, typer.Option(
        help="simans: sharpness a of exp(-a (gap - b)^2), gap = (score - positive) / |positive|.")] = DEFAULT,
    simans_b: Annotated[float, typer.Option(help="simans: the gap b where sampling peaks.")] = DEFAULT,
    trisampler_angle: Annotated[float, typer.Option(
        help="trisampler: widest angle (degrees) between query-positive and query-negative.")] = DEFAULT,
    source_shares: Annotated[Optional[str], typer.Option(
        help="Split each row's negatives between miners, e.g. bm25=1,dense=2.")] = DEFAULT,
    fill: Annotated[str, typer.Option(
        help="random: pad rows with too few negatives with random documents (no positive is lost); none: drop "
             "them (counted as positives_lost).")]
    = DEFAULT,
    chunk_queries: Annotated[int, typer.Option(
        help="Queries handled at once (0: all): bounds memory; the dataset's bytes do not depend on it.")] = DEFAULT,
    ) -> None:
    """Write a versioned dataset datasets/NAME/vN (train.parquet, ids.parquet, manifest.json, README.md).

    The same inputs and params reuse the existing version (its path is printed); anything else makes vN+1.
    Example: minekit build --candidates bm25.parquet --queries q.parquet --positives p.parquet --corpus c.parquet --name demo
    """


# -- export / report -------------------------------------------------------------------

@command("export", out_paths=("out",))
def export_cmd(
    dataset: Annotated[Path, typer.Argument(help="A built dataset folder datasets/NAME/vN.")],
    to: Annotated[str, typer.Option("--to", help="flagembedding, tevatron, hf (a datasets folder) or jsonl.")],
    out: Annotated[Path, typer.Option("--out", help="Output file (a folder for hf); the manifest goes beside it.")],
    prompt: Annotated[Optional[str], typer.Option(
        help="flagembedding: the query instruction written as each record's prompt (bge, e5 models).")] = DEFAULT,
    scores: Annotated[str, typer.Option(
        help="flagembedding pos_scores/neg_scores: teacher (the denoise teacher's scores; left out without one), "
             "miner (the one miner's raw scores) or none.")] = DEFAULT,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing --out.")] = DEFAULT,
) -> None:
    """Write a dataset in the layout another trainer reads (FlagEmbedding, Tevatron, Hugging Face datasets, JSONL).

    Example: minekit export datasets/demo/v1 --to flagembedding --out exports/demo.jsonl
    """


@command("report", out_files=("out",))
def report_cmd(
    dataset_or_run: Annotated[Path, typer.Argument(help="A dataset folder (datasets/NAME/vN) or a run folder (runs/NAME).")],
    out: Annotated[Path, typer.Option("--out", help="Output HTML file (one self-contained page).")],
    metrics: Annotated[Optional[list[Path]], typer.Option(
        "--metrics", help="metrics.json of `minekit evaluate`, repeatable, shown before/after in file order.")] = DEFAULT,
    examples: Annotated[int, typer.Option(help="Example rows shown (query, positive, negatives).")] = DEFAULT,
    ) -> None:
    """Write one offline HTML page with the plots to read before training: scores, margins, ranks, drops, overlap.

    Example: minekit report runs/sample --out report.html
    """


# -- denoise / train-reranker -----------------------------------------------------------

@command("denoise", out_files=("out", "pseudo_positives"))
def denoise_cmd(
    candidates: CandidatesOpt,
    queries: QueriesOpt,
    positives: PositivesOpt,
    corpus: CorpusOpt,
    out: OutOpt,
    scorer: Annotated[str, typer.Option(
        help="cross-encoder (needs --cross-encoder) or bi-encoder (a guide model, --model).")] = DEFAULT,
    cross_encoder: Annotated[Optional[str], typer.Option(
        "--cross-encoder", help="CrossEncoder folder or hub name (e.g. the output of train-reranker).")] = DEFAULT,
    model: Annotated[Optional[str], typer.Option(
        help="Bi-encoder guide for --scorer bi-encoder: 'default' (when not given) or a folder.")] = DEFAULT,
    max_score: Annotated[Optional[float], typer.Option(
        help="Drop candidates scored above this. Sigmoid/probability cross-encoders (1 logit, as train-reranker "
             "makes): RocketQA keeps negatives below 0.1. Logit models: pick a logit, e.g. the score the model "
             "gives at the 0.1 probability point, log(0.1/0.9) = -2.2, or look at the scores of known "
             "positives (ce_score with --keep-dropped).")] = DEFAULT,
    positive_neighbours: Annotated[Optional[str], typer.Option(
        help="Bi-encoder guide: drop candidates among the K corpus passages nearest to one of the query's positives "
             "(passage to passage). The default, auto, sets K so that 8 in 10 positives in --positives are among "
             "the K nearest to another positive of their query (256 with one positive a query), and drops at "
             "most a tenth of a query's candidates, those both nearest to a positive and closest to the query "
             "('none' turns it off). Encodes the whole corpus (shares mine dense's cache).",
        parser=lambda v: _threshold(v, auto=True))] = DEFAULT,
    max_positive_similarity: Annotated[Optional[str], typer.Option(
        help="Bi-encoder guide: drop candidates whose cosine to one of the query's positives (passage to passage) "
             "is above this; auto: the 0.9 quantile of the cosines between positives of the same query in "
             "--positives, dropping at most a tenth of a query's candidates (default: off).",
        parser=lambda v: _threshold(v, auto=True))] = DEFAULT,
    absolute_margin: Annotated[Optional[str], typer.Option(
        help="Per positive: a candidate scored above (positive - absolute_margin) leaves that positive's rows, "
             "and is dropped when above every positive's. The default, auto, is 0 (GISTEmbed's rule) unless "
             "--positive-neighbours or --max-positive-similarity judges ('none' turns it off).",
        parser=lambda v: _threshold(v, auto=True))] = DEFAULT,
    relative_margin: Annotated[Optional[float], typer.Option(
        help="As --absolute-margin with the bound positive - |positive| * relative_margin (NV-Retriever: "
             "0.05); stays below the positive for negative scores (logits) too.")] = DEFAULT,
    pseudo_positives: Annotated[Optional[Path], typer.Option(
        "--pseudo-positives", help="Also write candidates scored >= --min-positive-score here, as a positives "
                                   "file (query_id, doc_id, score=1, ce_score).")] = DEFAULT,
    min_positive_score: Annotated[Optional[float], typer.Option(
        help="Score at or above which a candidate is a pseudo-positive (needs --pseudo-positives).")] = DEFAULT,
    llm_judge: Annotated[Optional[str], typer.Option(
        "--llm-judge", help="OpenAI-compatible base URL (http://host:port/v1) asked about grey-zone candidates.")]
    = DEFAULT,
    llm_model: Annotated[Optional[str], typer.Option(help="Model name sent to the --llm-judge endpoint.")] = DEFAULT,
    llm_api_key_env: Annotated[str, typer.Option(
        help="Environment variable holding the endpoint's API key (unset: no key sent).")] = DEFAULT,
    llm_min_score: Annotated[Optional[float], typer.Option(
        help="Grey zone lower end: kept candidates scored >= this are asked to the LLM judge.")] = DEFAULT,
    llm_max_score: Annotated[Optional[float], typer.Option(
        help="Grey zone upper end (default: up to what the score rules keep).")] = DEFAULT,
    llm_concurrency: Annotated[int, typer.Option(help="Parallel requests to the LLM judge.")] = DEFAULT,
    llm_retries: Annotated[int, typer.Option(help="Retries per request (exponential backoff) on errors/5xx/429.")] = DEFAULT,
    llm_timeout: Annotated[float, typer.Option(help="Seconds to wait for one LLM answer.")] = DEFAULT,
    batch_size: Annotated[int, typer.Option(help="Pairs (cross-encoder) or texts (bi-encoder) per batch.")]
    = DEFAULT,
    max_length: Annotated[Optional[int], typer.Option(help="Cross-encoder max tokens per pair (default: model's).")] = DEFAULT,
    instruction: Annotated[Optional[str], typer.Option(
        help="Cross-encoder: text put before each query it scores (rerankers trained with an instruction).")] = DEFAULT,
    keep_dropped: Annotated[bool, typer.Option(help="Keep dropped rows, marked in a drop_reason column.")] = DEFAULT,
    block_size: Annotated[int, typer.Option(
        help="Bi-encoder guide: queries whose candidate pairs are compared at a time (each text is encoded once "
             "before, so results never depend on it; the cross-encoder scores in its own 512-pair chunks); "
             "memory, not results.")] = DEFAULT,
    ) -> None:
    """Score candidates and positives with a cross-encoder (or a bi-encoder guide) and drop likely false negatives.

    Example: minekit denoise --candidates bm25.parquet --queries q.parquet --positives p.parquet --corpus c.parquet --out clean.parquet --cross-encoder models/reranker --max-score 0.1
    """


@command("train-reranker", out_folders=("out",))
def train_reranker_cmd(
    dataset: Annotated[Path, typer.Option("--dataset", help="A built dataset folder datasets/NAME/vN.")],
    out: Annotated[Path, typer.Option("--out", help="New folder for the CrossEncoder (usable as --cross-encoder).")],
    model: Annotated[str, typer.Option(help="Starting weights: 'default' (MiniLM bi-encoder), or a folder.")]
    = DEFAULT,
    batch_size: Annotated[int, typer.Option(help="Pairs per training step.")] = DEFAULT,
    max_length: Annotated[int, typer.Option(help="Max tokens per (query, passage) pair.")] = DEFAULT,
    instruction: Annotated[Optional[str], typer.Option(
        help="Text put before each query in training; give the same to `denoise --instruction`.")] = DEFAULT,
    ) -> None:
    """Fine-tune a one-logit CrossEncoder on a built dataset, to denoise the next round offline.

    Example: minekit train-reranker --dataset datasets/demo/v1 --model default --out models/reranker
    """


# -- train / evaluate / compare -------------------------------------------------------------------

@command("train", out_folders=("out",))
def train_cmd(
    dataset: Annotated[Path, typer.Option("--dataset", help="Dataset folder datasets/NAME/vN from `minekit build`.")],
    out: Annotated[Path, typer.Option("--out", help="New folder for the trained model (never overwritten).")],
    loss: Annotated[str, typer.Option(help="mnrl, cached-mnrl, gist, triplet or margin-mse.")] = DEFAULT,
    batch_size: Annotated[int, typer.Option(help="Rows per batch (in-batch negatives for the mnrl losses).")] = DEFAULT,
    max_seq_length: Annotated[int, typer.Option(help="Tokens per text; longer texts are truncated.")] = DEFAULT,
    mini_batch_size: Annotated[Optional[int], typer.Option(help="cached-mnrl only: rows per forward pass (default 32).")] = DEFAULT,
    guide: Annotated[Optional[str], typer.Option(help="gist only: the guide model, e.g. 'default'.")] = DEFAULT,
    pairs_only: Annotated[bool, typer.Option(
        help="Train on (anchor, positive) alone, ignoring the dataset's negatives (the in-batch baseline).")] = DEFAULT,
    dtype: Annotated[str, typer.Option(
        help="float32, or bfloat16 autocast (weights stay float32; about 1.8x faster on CPUs with AMX), "
             "or float16 (CUDA only).")] = DEFAULT,
    ) -> None:
    """Fine-tune a bi-encoder on a built dataset with sentence-transformers; writes the model, manifest.json and a card.

    Example: minekit train --dataset datasets/demo/v1 --out models/demo --max-steps 100
    """


@command("evaluate", out_files=("out",))
def evaluate_cmd(
    model: Annotated[str, typer.Option(help="'bm25' (lexical reference), 'default', a model folder or a hub name.")],
    queries: QueriesOpt,
    positives: PositivesOpt,
    corpus: CorpusOpt,
    out: Annotated[Optional[Path], typer.Option("--out", help="Write the metrics as flat JSON here.")] = DEFAULT,
    k: Annotated[str, typer.Option("--k", help="Cut-offs, comma-separated: nDCG, MRR and recall at each.")] = DEFAULT,
    block_size: Annotated[Optional[int], typer.Option(
        help="Dense models: corpus embeddings read from the cache (and queries ranked) at a time; memory grows "
             "with it, results do not change (default 65536).")] = DEFAULT,
) -> None:
    """Exact retrieval over the corpus, scored with nDCG, MRR and recall (graded gains when positives carry scores).

    Example: minekit evaluate --model models/demo --queries q.parquet --positives test.parquet --corpus c.parquet --out metrics.json
    """


@command("compare")
def compare_cmd(
    files: Annotated[list[Path], typer.Argument(help="metrics.json files from `minekit evaluate`; the first is the base.")],
) -> None:
    """Print several evaluations side by side, with each one's delta to the first.

    Example: minekit compare base.json bm25neg.json densenegs.json
    """


# -- run (pipelines) ---------------------------------------------------------------------

@command("run", out_folders=("runs_dir",))
def run_cmd(
    pipeline: Annotated[Path, typer.Argument(help="Pipeline TOML file (see pipelines/).")],
    force: Annotated[bool, typer.Option("--force", help="Run every step, even those up to date.")] = DEFAULT,
    from_step: Annotated[Optional[str], typer.Option(
        "--from", help="Run this step and every step after it, even if up to date.")] = DEFAULT,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print what would run and why; run nothing.")] = DEFAULT,
    runs_dir: Annotated[Path, typer.Option(help="Folder holding run directories (runs/<pipeline-name>/).")]
    = DEFAULT,
) -> None:
    """Run a TOML pipeline of minekit commands, skipping steps whose outputs are up to date.

    Example: minekit run pipelines/sample.toml
    """


# -- mine dense / cluster / random ------------------------------------------------------

BlockSizeOpt = Annotated[int, typer.Option(
    help="Corpus embeddings read from the cache (and queries searched) at a time; memory grows with it, results "
         "do not change (default 65536: about 100 MB at dim 384).")]


@command("mine.dense", out_files=("out",))
def mine_dense_cmd(
    queries: QueriesOpt, positives: PositivesOpt, corpus: CorpusOpt, out: OutOpt,
    index: Annotated[str, typer.Option(
        help="flat: exact (blocked matrix product). ivf: faiss IVF (--nlist, --nprobe); ivf-pq: IVF with "
             "product-quantized vectors (--pq-m bytes each) for corpora whose float32 vectors do not fit in memory, "
             "4 x top-k hits by code, the exact top-k kept; "
             "hnsw: faiss HNSW (--hnsw-m, --ef-search). Candidates are rescored with the exact cosine. Both trade recall for speed on large corpora, and how much depends on "
             "the data: recall@10 against flat on synthetic 384-d sets (4k-50k vectors) was 0.84-1.0 for ivf "
             "and 0.5-0.99 for hnsw, lowest on near-uniform vectors; check on a sample against flat and raise "
             "--nprobe / --ef-search for more.")] = DEFAULT,
    nlist: Annotated[Optional[int], typer.Option(help="ivf: number of lists (default 4*sqrt(corpus size), at most corpus/39).")] = DEFAULT,
    nprobe: Annotated[Optional[int], typer.Option(help="ivf: lists searched per query (default max(16, nlist/8)); more = better recall, slower.")] = DEFAULT,
    hnsw_m: Annotated[Optional[int], typer.Option(help="hnsw: links per node (default 32).")] = DEFAULT,
    ef_search: Annotated[Optional[int], typer.Option(help="hnsw: search breadth (default max(256, 2*top-k)); more = better recall, slower.")] = DEFAULT,
    pq_m: Annotated[Optional[int], typer.Option(help="ivf-pq: bytes per vector, dividing the dimension (default dim/8: 48 for 384).")] = DEFAULT,
    block_size: BlockSizeOpt = DEFAULT,
    query_from: Annotated[str, typer.Option(
        help="query: the query text is the query. positive: each positive passage is the query "
             "(source passage-dense; scores max-merged over a query's positives).")] = DEFAULT,
    ) -> None:
    """Dense candidates: cosine of bi-encoder embeddings (sentence-transformers), searched exactly or with faiss.

    score = cosine(query, document) (score_kind cosine); positive_scores = the cosine of the query to each positive.
    Example: minekit mine dense --queries q.parquet --positives p.parquet --corpus c.parquet --out dense.parquet
    """


@command("embed")
def embed_cmd(
    corpus: CorpusOpt,
    queries: Annotated[Optional[Path], typer.Option(
        "--queries", help="Queries parquet (query_id, text): also encode the query texts (with --query-prompt).")]
    = DEFAULT,
    ) -> None:
    """Encode the corpus (and queries) into the embedding cache that mine dense reads, all at once or one shard at a time.

    Use the same model, prompt, dtype and precision flags as the mine dense run that follows; it then encodes nothing.
    Example: minekit embed --corpus c.parquet --queries q.parquet --shard 1/4
    """


@command("index.bm25")
def index_bm25_cmd(corpus: CorpusOpt) -> None:
    """Build the BM25 index of the corpus into the cache folder that mine bm25 and mine passage-bm25 read.

    Give the same corpus, BM25 flags and --cache-dir as the mining runs that follow: they then tokenize
    nothing, and every --shard i/n and Ray task memory-maps this one index. An index already there and
    intact is reused; a damaged one is rebuilt.
    Example: minekit index bm25 --corpus c.parquet --cache-dir .minekit-cache
    """


@command("merge", out_files=("out",))
def merge_cmd(
    files: Annotated[list[Path], typer.Argument(help="The n shard outputs of one run (written with --shard i/n).")],
    out: OutOpt,
) -> None:
    """Join the shard outputs of one run into the file the unsharded run writes, byte for byte.

    Checks that every shard i of n is there exactly once and that all ran with the same params and inputs.
    Example: minekit merge bm25.1.parquet bm25.2.parquet --out bm25.parquet
    """


@command("mine.cluster", out_files=("out",))
def mine_cluster_cmd(
    queries: QueriesOpt, positives: PositivesOpt, corpus: CorpusOpt, out: OutOpt,
    n_clusters: Annotated[Optional[int], typer.Option(help="k-means clusters (default sqrt(corpus size), at most corpus/39).")] = DEFAULT,
    clusters_per_query: Annotated[int, typer.Option(help="Clusters nearest to the query's positives that share its candidates.")] = DEFAULT,
    centroids: Annotated[Optional[Path], typer.Option(
        help="Centroids .npy from an earlier run (OUT.centroids.npy): reuse them instead of k-means.")] = DEFAULT,
    niter: Annotated[int, typer.Option(help="k-means iterations.")] = DEFAULT,
    ) -> None:
    """K-means over corpus embeddings; negatives spread over the clusters nearest each query's positives.

    Writes the centroids beside the output (OUT.centroids.npy); pass them back with --centroids to rerun exactly.
    Example: minekit mine cluster --queries q.parquet --positives p.parquet --corpus c.parquet --out cluster.parquet
    """


@command("mine.random", out_files=("out",))
def mine_random_cmd(
    queries: QueriesOpt, positives: PositivesOpt, corpus: CorpusOpt, out: OutOpt,
    ) -> None:
    """Uniformly random non-positive documents per query (seeded): the baseline every comparison needs.

    Example: minekit mine random --queries q.parquet --positives p.parquet --corpus c.parquet --out random.parquet --top-k 20
    """


