/// The fp32 reference backend: every op on the CPU, GEMMs through OpenBLAS, the rest in Swift.
import COpenBLAS
import GPT2
