//! Data movement kernels: permute, slice, concat, gather, pad.
