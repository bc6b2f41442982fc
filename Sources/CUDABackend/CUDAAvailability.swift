/// Whether this machine can run the CUDA backend, and if not, why: the first piece that is missing
/// (driver library, initialisation, device), in words `--device cuda` and `gpt2 info` can print.

public enum CUDAAvailability {
    /// The first device, opened, or the error that explains why there is no usable device.
    public static func firstDevice(paths: CUDALibraryPaths = CUDALibraryPaths()) -> Result<CUDADevice, CUDAError> {
        do {
            return .success(try CUDADevice(driver: try CUDADriver(paths: paths), ordinal: 0))
        } catch let error as CUDAError {
            return .failure(error)
        } catch {
            return .failure(.library(call: "CUDA", message: "\(error)"))
        }
    }

    /// nil when a CUDA device is usable, else a one-line reason ("the CUDA driver (libcuda) not found …").
    public static func problem(paths: CUDALibraryPaths = CUDALibraryPaths()) -> String? {
        switch firstDevice(paths: paths) {
        case .success: return nil
        case .failure(let error): return error.description
        }
    }
}
