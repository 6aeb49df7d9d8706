"""A sampled map still answers per pool row: coordinates (NaN when left out) and clusters (-2 = not mapped)."""

import numpy as np

from euds_core.selection.embed_map import NOT_DRAWN, EmbeddingMap


def test_full_row_views_of_a_sampled_map():
    emap = EmbeddingMap(
        rows=np.array([3, 0]),
        coords=np.array([[1, 2], [3, 4]], dtype=np.float32),
        clusters=np.array([1, -1], dtype=np.int32),
        n_rows=5,
    )
    xy = emap.coords_for_all_rows()
    assert (
        xy.shape == (5, 2) and xy[3].tolist() == [1, 2] and xy[0].tolist() == [3, 4] and np.isnan(xy[[1, 2, 4]]).all()
    )
    assert emap.clusters_for_all_rows().tolist() == [-1, NOT_DRAWN, NOT_DRAWN, 1, NOT_DRAWN]
