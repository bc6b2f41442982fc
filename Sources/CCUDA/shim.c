// Empty: a C target needs one source file; everything CCUDA offers is in include/ccuda.h.
