"""Type stub of khipu.gnn: the public API, imported lazily (see __init__.py)."""

from . import exercises as exercises
from .__about__ import (
    __version__ as __version__,
)
from .classify import (
    GraphDataset as GraphDataset,
    load_tu_dataset as load_tu_dataset,
    train_graph_classifier as train_graph_classifier,
    trees_vs_cycles as trees_vs_cycles,
)
from .depth import (
    DepthSweep as DepthSweep,
    depth_sweep as depth_sweep,
    feature_spread as feature_spread,
    propagation_spread as propagation_spread,
    train_node_net as train_node_net,
)
from .graphs import (
    add_self_edges as add_self_edges,
    arrays_to_graph as arrays_to_graph,
    batch_graphs as batch_graphs,
    check_graph as check_graph,
    degrees as degrees,
    edge_normalization as edge_normalization,
    from_adjacency as from_adjacency,
    from_edge_list as from_edge_list,
    from_networkx as from_networkx,
    graph_mask as graph_mask,
    graphs_to_arrays as graphs_to_arrays,
    next_power_of_two as next_power_of_two,
    node_mask as node_mask,
    normalized_adjacency as normalized_adjacency,
    pad_graph as pad_graph,
    pad_to_power_of_two as pad_to_power_of_two,
    to_adjacency as to_adjacency,
    to_networkx as to_networkx,
    unpad as unpad,
    zero_out_padding as zero_out_padding,
)
from .layers import (
    FilterGNN as FilterGNN,
    GATLayer as GATLayer,
    GCNLayer as GCNLayer,
    GraphFilter as GraphFilter,
    GraphNetworkBlock as GraphNetworkBlock,
    GraphPerceptron as GraphPerceptron,
    diffusion_sequence as diffusion_sequence,
    gcn_propagate as gcn_propagate,
    graph_filter as graph_filter,
    propagate as propagate,
    readout as readout,
)
from .links import (
    EdgeSplit as EdgeSplit,
    dot_scores as dot_scores,
    negative_pairs as negative_pairs,
    sbm_graph as sbm_graph,
    sbm_link_split as sbm_link_split,
    split_edges as split_edges,
    train_link_predictor as train_link_predictor,
)
from .loop import (
    train_epochs as train_epochs,
)
from .models import (
    graph_classifier as graph_classifier,
    node_model as node_model,
)
from .nodes import (
    NodeTask as NodeTask,
    karate_club as karate_club,
    train_node_classifier as train_node_classifier,
)
from .plots import (
    draw_graph as draw_graph,
    plot_depth_sweep as plot_depth_sweep,
    plot_diffusion_sequence as plot_diffusion_sequence,
    plot_graph_examples as plot_graph_examples,
    plot_node_predictions as plot_node_predictions,
    plot_roc as plot_roc,
    plot_scaling as plot_scaling,
    plot_similarity as plot_similarity,
    plot_training_losses as plot_training_losses,
)
from .ratings import (
    RatingsData as RatingsData,
    check_ratings as check_ratings,
    generate_ratings as generate_ratings,
    load_movielens_100k as load_movielens_100k,
    make_samples as make_samples,
    rating_model as rating_model,
    rmse as rmse,
    similarity_graph as similarity_graph,
    target_mse as target_mse,
    train_rating_model as train_rating_model,
)
from .runs import (
    prepare_task as prepare_task,
    run_task as run_task,
)
from .train import (
    TaskResult as TaskResult,
    masked_cross_entropy as masked_cross_entropy,
    roc_auc as roc_auc,
    single_graph as single_graph,
    single_graph_arrays as single_graph_arrays,
)
