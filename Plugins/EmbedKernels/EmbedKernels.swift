/// Build-tool plugin: turns the CUDA sources of a target (`Kernels/*.cu`, `*.cuh`) into one generated
/// Swift file of raw string literals, `CUDAKernelSources`, so the binary carries the kernel text.

import PackagePlugin

@main
struct EmbedKernels: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        guard let module = target as? SourceModuleTarget else { return [] }
        let kernels = module.sourceFiles
            .filter { $0.url.pathExtension == "cu" || $0.url.pathExtension == "cuh" }
            .map(\.url)
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
        let output = context.pluginWorkDirectoryURL.appending(path: "CUDAKernelSources.swift")
        return [
            .buildCommand(
                displayName: "Embedding \(kernels.count) CUDA source files",
                executable: try context.tool(named: "EmbedKernelsTool").url,
                arguments: [output.path()] + kernels.map { $0.path() },
                inputFiles: kernels,
                outputFiles: [output])
        ]
    }
}
