"""Pictures of recordings, window embeddings and the learned motif distance (``relcon plot``).

Three pictures, each written atomically as a PNG (or SVG / PDF, from the file suffix) or, with
``html=True``, as one self-contained interactive HTML file:

* :func:`plot_recording` - the acceleration trace of a recording (x, y, z and ``|a|`` in g over
  time), drawn as per-bin min/max envelopes so that hours of data stay readable and no sample is
  left out, with a band of coloured windows under it: the classes a fine-tuned model predicts
  and/or the recording's own labels;
* :func:`plot_embedding_map` - a 2-D map (t-SNE, UMAP or PCA) of window embeddings coloured by
  label or by user;
* :func:`plot_distance_ranking` - an anchor window beside candidate windows ranked by a
  :class:`~relcon.models.distance.MotifDistance`, closest first.

Interactive HTML, and why it needs no new dependency
----------------------------------------------------
The HTML files are written by this module alone: the figure's data go into a
``<script type="application/json" id="relcon-data">`` block, a ~10 kB vanilla-JavaScript viewer
draws them as SVG (hover tooltips; wheel zoom, drag to pan and double-click to reset on the map
and the trace; legend entries toggle classes on the map), and the static PNG is embedded too
(base64) for printing and sharing. Nothing is fetched from the network, so the files work
offline and from e-mail attachments. Plotly would add a ~3.5 MB JavaScript bundle to every file
(to work offline) and a dependency for three plot types that need only points, lines and
rectangles. The JSON block is also the machine-readable record of what is drawn.

Matplotlib is used through :class:`matplotlib.figure.Figure` directly (no ``pyplot``), so the
functions never change the global backend of a notebook or an application that imports them.

Modules: :mod:`.recording`, :mod:`.map`, :mod:`.distance` (one picture each), :mod:`.common`
(colours, envelope, output) and :mod:`.html` (the viewer).
"""

from relcon.apps.plots.common import AXIS_COLORS, UNLABELLED_COLOR, class_palette, envelope
from relcon.apps.plots.distance import plot_distance_ranking, ranked_distances, ranking_windows
from relcon.apps.plots.map import COLOR_BY, MAP_METHODS, plot_embedding_map, sample_indices
from relcon.apps.plots.recording import plot_recording

__all__ = [
    "AXIS_COLORS",
    "COLOR_BY",
    "MAP_METHODS",
    "UNLABELLED_COLOR",
    "class_palette",
    "envelope",
    "plot_distance_ranking",
    "plot_embedding_map",
    "plot_recording",
    "ranked_distances",
    "ranking_windows",
    "sample_indices",
]
