"""Two Ray nodes on this machine (Ray's own cluster_utils.Cluster), sharing only the working folder and the
cache folder: the shards run on both nodes and merge to the single-process bytes."""

from __future__ import annotations

import pytest

import minekit as mk
from minekit.errors import ConfigError

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'minekit[ray]'); the Ray runner is untested")
pytestmark = pytest.mark.slow  # starting two Ray nodes takes about 20 s


@pytest.fixture(scope="module")
def two_nodes():
    from ray.cluster_utils import Cluster

    # two CPUs a node: a node whose CPU Ray still leases to a finished task can take the next shard too
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "include_dashboard": False})
    cluster.add_node(num_cpus=2)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, configure_logging=False)
    yield cluster
    ray.shutdown()
    cluster.shutdown()


def _ran_on_two_nodes(output) -> bool:
    return any("on 2 nodes" in note for note in output.notes)


def test_two_nodes_mine_bm25_and_dense_to_the_single_process_bytes(two_nodes, tiny_files, tiny_bi_encoder, tmp_path):
    assert sum(1 for node in ray.nodes() if node["Alive"]) == 2
    single = mk.mine_bm25(**tiny_files, out=tmp_path / "bm25.parquet", top_k=5, show_progress=False)
    # two index parts, built as Ray tasks (one a node), then four shards
    on_ray = mk.mine_bm25(**tiny_files, out=tmp_path / "bm25-ray.parquet", top_k=5, ray=True, shards=4,
                          index_parts=2, show_progress=False)
    assert on_ray.path.read_bytes() == single.path.read_bytes()
    assert _ran_on_two_nodes(on_ray), on_ray.notes

    cache, model = tmp_path / "cache", str(tiny_bi_encoder)
    embedded = mk.embed_corpus(corpus=tiny_files["corpus"], queries=tiny_files["queries"], model=model, cache_dir=cache,
                        ray=True, show_progress=False)
    assert embedded.stats["texts_encoded"] == 25  # 20 passages + 5 queries, by the Ray Data actors
    dense = mk.mine_dense(**tiny_files, out=tmp_path / "dense-ray.parquet", model=model, top_k=6, cache_dir=cache,
                          ray=True, shards=4, show_progress=False)
    assert any("encoded 0 texts on Ray Data (25 were cached)" in note for note in dense.notes), dense.notes
    assert _ran_on_two_nodes(dense), dense.notes
    whole = mk.mine_dense(**tiny_files, out=tmp_path / "dense.parquet", model=model, top_k=6, cache_dir=cache,
                          show_progress=False)
    assert whole.stats["texts_encoded"] == 0  # every node wrote into, and read from, the one shared cache
    assert dense.path.read_bytes() == whole.path.read_bytes()


def test_two_nodes_refuse_to_share_a_sqlite_score_cache(two_nodes, tiny_files, tiny_cross_encoder, tmp_path):
    cands = mk.mine_bm25(**tiny_files, out=tmp_path / "bm25.parquet", top_k=8, show_progress=False).path
    kwargs = dict(candidates=cands, **tiny_files, cross_encoder=str(tiny_cross_encoder), relative_margin=0.0)
    with pytest.raises(ConfigError, match="not safe on a folder shared by the 2 nodes") as exc:
        mk.denoise(**kwargs, out=tmp_path / "x.parquet", cache_dir=tmp_path / "cache", ray=True, shards=2,
                   show_progress=False)
    assert exc.value.param == "cache_dir"
    assert not (tmp_path / "x.parquet").exists() and not (tmp_path / "cache").exists()

    on_ray = mk.denoise(**kwargs, out=tmp_path / "ray.parquet", cache_dir="none", ray=True, shards=2,
                        show_progress=False)
    single = mk.denoise(**kwargs, out=tmp_path / "one.parquet", cache_dir="none", show_progress=False)
    assert on_ray.path.read_bytes() == single.path.read_bytes()
    assert _ran_on_two_nodes(on_ray), on_ray.notes
