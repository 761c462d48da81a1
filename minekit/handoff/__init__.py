"""Hand-off: exports in other trainers' layouts, and the HTML report."""
