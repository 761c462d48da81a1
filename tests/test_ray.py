"""The Ray runner on a local Ray started here (2 CPUs): the same shards and merge, the single-process bytes."""

from __future__ import annotations

import pytest

import minekit as mk
from minekit.errors import ConfigError

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'minekit[ray]'); the Ray runner is untested")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False)
    yield ray
    ray.shutdown()


def test_ray_mines_in_shards_and_merges_to_the_single_process_bytes(local_ray, tiny_files, tiny_bi_encoder, tmp_path):
    single = mk.mine_bm25(**tiny_files, out=tmp_path / "bm25.parquet", top_k=5, show_progress=False)
    on_ray = mk.mine_bm25(**tiny_files, out=tmp_path / "bm25-ray.parquet", top_k=5, ray=True, shards=3,
                          cache_dir=tmp_path / "bm25-cache", show_progress=False)
    assert on_ray.path.read_bytes() == single.path.read_bytes()
    # one Ray task built the index before the shards, which memory-mapped it
    assert any("index bm25: built into the cache before the shards started" in n for n in on_ray.notes)
    assert len([f for f in (tmp_path / "bm25-cache" / "bm25").iterdir() if f.name != "files"]) == 1
    again = mk.mine_passage_bm25(**tiny_files, out=tmp_path / "p-ray.parquet", top_k=5, ray=True, shards=2,
                                 cache_dir=tmp_path / "bm25-cache", show_progress=False)
    assert any("index bm25: found in the cache" in n for n in again.notes)
    alone = mk.mine_passage_bm25(**tiny_files, out=tmp_path / "p.parquet", top_k=5, cache_dir="none",
                                 show_progress=False)
    assert again.path.read_bytes() == alone.path.read_bytes()
    built = mk.index_bm25(corpus=tiny_files["corpus"], cache_dir=tmp_path / "bm25-cache", ray=True)
    assert built.stats["index"] == "reused" and built.path.parent == tmp_path / "bm25-cache" / "bm25"
    assert not list(tmp_path.glob(".bm25-ray.parquet.shards"))  # the shard files are gone once merged

    cache = tmp_path / "cache"
    model = str(tiny_bi_encoder)
    dense = mk.mine_dense(**tiny_files, out=tmp_path / "dense-ray.parquet", model=model, top_k=6, cache_dir=cache,
                          ray=True, shards=2, show_progress=False)
    assert any("encoded 25 texts on Ray Data" in note for note in dense.notes)  # 20 passages + 5 queries
    whole = mk.mine_dense(**tiny_files, out=tmp_path / "dense.parquet", model=model, top_k=6, cache_dir=cache,
                          show_progress=False)
    assert whole.stats["texts_encoded"] == 0  # the Ray Data actors filled the shared cache
    assert dense.path.read_bytes() == whole.path.read_bytes()


def test_index_parts_build_as_ray_tasks_into_the_files_one_process_writes(local_ray, tiny_files, tmp_path):
    local = mk.index_bm25(corpus=tiny_files["corpus"], cache_dir=tmp_path / "here", index_parts=3,
                          show_progress=False)
    on_ray = mk.index_bm25(corpus=tiny_files["corpus"], cache_dir=tmp_path / "ray", index_parts=3, ray=True)
    assert on_ray.stats["index"] == "built" and on_ray.stats["parts"] == 3
    assert on_ray.path.name == local.path.name  # the same key
    files = sorted(p.name for p in local.path.iterdir())
    assert "part-2.data.bin" in files and sorted(p.name for p in on_ray.path.iterdir()) == files
    assert all((on_ray.path / f).read_bytes() == (local.path / f).read_bytes() for f in files)


def test_a_shard_error_comes_back_as_itself(local_ray, tiny_files, tmp_path):
    with pytest.raises(ConfigError, match="stemmer: unknown language"):
        mk.mine_bm25(**tiny_files, out=tmp_path / "x.parquet", stemmer="klingon", ray=True, shards=2,
                     show_progress=False)
