import Testing
@testable import GPT2

@Suite struct LayoutTests {
    @Test func d12HasGPT2ParameterCount() throws {
        // GPT-2 124M has 124,439,808 parameters with V=50257; padding to 50304 adds 47*768.
        let config = try ModelPreset.named("d12").config
        #expect(config.parameterCount == 124_439_808 + 47 * 768)
    }
}
