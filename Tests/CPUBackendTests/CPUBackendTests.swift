import Testing
@testable import CPUBackend
