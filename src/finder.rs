//! Choosing the neighbourhood degree `k` and threshold `t` of SecAgg+ (Bell et al., CCS 2020).
