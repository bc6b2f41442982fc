/// Ctrl-C (SIGINT), SIGTERM and SIGHUP (a closed terminal, a dropped SSH session) as a request to stop long work where
/// it can stop cleanly: training at the end of the micro-batch in progress, with a checkpoint of the last complete step,
/// instead of losing everything since the last one; a prepare at once, deleting the shards it wrote (it may be waiting
/// for a stream, in a read no signal interrupts here), unless it is moving them into place, which it finishes. A
/// second SIGINT or SIGTERM quits at once (a hang-up often comes twice, from the terminal and from the shell it ends,
/// and asks for nothing more the second time). A signal ignored when it begins stays ignored: `nohup` ignores SIGHUP so
/// that the work outlives the terminal, and a shell's background job ignores SIGINT. While it listens, the signals are
/// ignored in the process's dispositions (the listening takes them from there), which child processes started
/// meanwhile inherit: library code leaves making one to the CLI.

import Dispatch
import Synchronization

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
@preconcurrency import Darwin
#endif

public final class StopRequest: @unchecked Sendable {
    private let requested = Atomic<Bool>(false)
    private var sources: [DispatchSourceSignal] = []
    /// A signal's disposition, as `signal()` takes and gives it.
    typealias Handler = (@convention(c) (Int32) -> Void)?
    /// The signals listened for, and what each did before.
    private var taken: [(signal: Int32, previous: Handler)] = []

    /// Training's: what the first signal is answered with.
    public static let trainingAnswer = "stopping after the micro-batch in progress, with a checkpoint of the last complete step "
        + "(signal again to quit now)"

    /// Starts listening for `signals`, and returns once it listens; their default action (terminate) is replaced while
    /// this value lives. The first signal is answered with `answer` (nil: `act` answers), then `act` is called with its
    /// number, on another thread (the work goes on meanwhile, unless `act` ends the process); a second quits at once,
    /// once `act` has returned (a SIGTERM just after a Ctrl-C cut short the deletion the Ctrl-C began).
    public init(signals: [Int32] = [SIGINT, SIGTERM, SIGHUP], answer: String? = trainingAnswer,
                act: (@Sendable (Int32) -> Void)? = nil) {
        let queue = DispatchQueue(label: "gpt2.stop-request")   // (serial: one signal's handler at a time)
        for number in signals {
            #if os(Linux)
            // libdispatch installs its own handler when the source is registered. Ignoring the signal first, as Darwin's
            // kqueue needs, dropped one that came in the millisecond before.
            var current = sigaction()
            sigaction(number, nil, &current)
            let previous = current.__sigaction_handler.sa_handler
            #else
            let previous = signal(number, SIG_IGN)
            #endif
            guard !Self.isIgnoring(previous) else { continue }
            taken.append((number, previous))
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            let registered = DispatchSemaphore(value: 0)
            source.setRegistrationHandler { registered.signal() }
            source.setEventHandler { [unowned self] in   // (the source, captured, lets go of this handler when cancelled)
                // (two signals that arrive before the handler runs come as one event with data 2)
                let first = self.request()
                if number != SIGHUP && (!first || source.data > 1) {
                    Console.log("second signal: quitting now, without a checkpoint")
                    // _exit, not exit: exit's clean-up (atexit handlers, OpenBLAS freeing its buffers) would run on
                    // this thread while the training thread still computes in them, and crashed the process.
                    _exit(128 + number)
                }
                guard first else { return }
                if let answer { Console.log(answer) }
                act?(number)
            }
            source.resume()
            _ = registered.wait(timeout: .now() + 5)
            sources.append(source)
        }
    }

    deinit {
        for source in sources { source.cancel() }
        for (number, previous) in taken { signal(number, previous) }
    }

    /// Whether `handler` is SIG_IGN (C's function pointers compare by address).
    static func isIgnoring(_ handler: Handler) -> Bool {
        func address(_ handler: Handler) -> Int { handler.map { unsafeBitCast($0, to: Int.self) } ?? 0 }
        return address(handler) == address(SIG_IGN)
    }

    /// Asks for the stop, as a signal does; returns false when it had been asked for already.
    @discardableResult
    public func request() -> Bool { !requested.exchange(true, ordering: .relaxed) }

    /// Whether a stop was asked for.
    public var isRequested: Bool { requested.load(ordering: .relaxed) }
}
