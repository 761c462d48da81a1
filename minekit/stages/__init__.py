"""The stages: one function per command, from paths on disk to files on disk (see minekit.registry).

A stage reads and validates its inputs, checks its params, calls the library function on frames, and
writes its output atomically with a manifest (params, input hashes, counts, fingerprint). It returns an
Output saying what was written, its counts and what was dropped; nothing is printed here. Modules by the
flow: inputs (validate, info, import), mine (and embed, merge), clean (filter, denoise), build, train
(train, train-reranker, evaluate, compare), handoff (export, report). How a stage runs (here, as one
shard, on Ray) is the executors' business (minekit.execution.executors), above the stages.
"""
