//! Printing the tape as a Wengert list, and Graphviz export.
