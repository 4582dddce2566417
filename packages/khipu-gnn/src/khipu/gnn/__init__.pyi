"""Type stub of khipu.gnn: the public API, imported lazily (see __init__.py)."""

from .__about__ import (
    __version__ as __version__,
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
    gcn_propagate as gcn_propagate,
    graph_filter as graph_filter,
    propagate as propagate,
    readout as readout,
)
