/// Ctrl-C (SIGINT), SIGTERM and SIGHUP (a closed terminal, a dropped SSH session) as a request to stop long work where
/// it can stop cleanly: training at the end of the micro-batch in progress, with a checkpoint of the last complete step,
/// instead of losing everything since the last one; a prepare at once, deleting the shards it wrote (it may be waiting
/// for a stream, in a read no signal interrupts here), unless it is moving them into place, which it finishes. A
/// second SIGINT or SIGTERM quits at once (a hang-up often comes twice, from the terminal and from the shell it ends,
/// and asks for nothing more the second time). A signal ignored when the process first listens stays ignored: `nohup`
/// ignores SIGHUP so that the work outlives the terminal, and a shell's background job ignores SIGINT.
///
/// The signals are heard by one `SignalListener` for the whole process, which hands each to the newest `StopRequest`
/// alive, and does what the signal does by default when none is. (A listener per request, let go with it, left the
/// second request of a process deaf: libdispatch installs its handler for a signal only once per process, and the
/// first request's restored default then killed a training run, that had prepared its demo corpus, without a
/// checkpoint.) Library code leaves making one to the CLI.

import Dispatch
import Synchronization

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
@preconcurrency import Darwin
#endif

public final class StopRequest: @unchecked Sendable {
    private let requested = Atomic<Bool>(false)
    private let answer: String?
    private let quitting: String
    private let act: (@Sendable (Int32) -> Void)?
    /// Whether this request was handed signals (one made with none is asked only through `request()`).
    private let listens: Bool

    /// Training's: what the first signal is answered with.
    public static let trainingAnswer = "stopping after the micro-batch in progress, with a checkpoint of the last complete step "
        + "(signal again to quit now)"
    /// Training's: what a second signal is answered with.
    public static let trainingQuitting = "second signal: quitting now, without a checkpoint"

    /// Listens for `signals` while this value lives (they no longer end the process), and returns once they are heard.
    /// The first is answered with `answer` (nil: `act` answers), then `act` is called with its number, on another
    /// thread (the work goes on meanwhile, unless `act` ends the process); a second, once `act` has returned, is
    /// answered with `quitting` and quits at once.
    public init(signals: [Int32] = [SIGINT, SIGTERM, SIGHUP], answer: String? = trainingAnswer, quitting: String = trainingQuitting,
                act: (@Sendable (Int32) -> Void)? = nil) {
        self.answer = answer
        self.quitting = quitting
        self.act = act
        listens = !signals.isEmpty
        if listens { SignalListener.shared.add(self, signals: signals) }
    }

    deinit {
        if listens { SignalListener.shared.remove(ObjectIdentifier(self)) }
    }

    /// Stops listening, once a signal being handled meanwhile has been: what `act` did is then done (a prepare read
    /// whether a stop was asked for just before a late signal's `act` said so). A signal from now on does what it does
    /// by default, unless another request listens. Not to be called from `act`.
    public func close() {
        if listens { SignalListener.shared.remove(ObjectIdentifier(self), waiting: true) }
    }

    /// Asks for the stop, as a signal does; returns false when it had been asked for already.
    @discardableResult
    public func request() -> Bool { !requested.exchange(true, ordering: .relaxed) }

    /// Whether a stop was asked for.
    public var isRequested: Bool { requested.load(ordering: .relaxed) }

    /// Signal `number` arrived (`count` times since it was last handled), on the listener's queue.
    fileprivate func receive(_ number: Int32, count: UInt) {
        let first = request()
        if number != SIGHUP && (!first || count > 1) {
            Console.log(quitting)
            // _exit, not exit: exit's clean-up (atexit handlers, OpenBLAS freeing its buffers) would run on
            // this thread while the training thread still computes in them, and crashed the process.
            _exit(128 + number)
        }
        guard first else { return }
        if let answer { Console.log(answer) }
        act?(number)
    }
}

/// The process's one listener for the stop signals (see `StopRequest`): a dispatch source per signal, made when a
/// request first asks for it and kept, on one serial queue, so that one signal is handled at a time.
private final class SignalListener: @unchecked Sendable {
    static let shared = SignalListener()
    private let queue = DispatchQueue(label: "gpt2.stop-signals")
    /// Guards `requests` (read on the queue, changed from the requests' threads).
    private let lock = Mutex(())
    /// Guards `sources` and `ignored`, held while a source starts (a delivery, on the queue, must not wait for it: the
    /// registration it waits for comes on that queue).
    private let starting = Mutex(())
    private var sources: [Int32: DispatchSourceSignal] = [:]
    /// Signals found ignored when first asked for, never listened for.
    private var ignored: Set<Int32> = []
    /// A live request (held weakly: it goes when its owner lets it go) and the signals it asked for.
    private struct Listening {
        let id: ObjectIdentifier
        weak var request: StopRequest?
        let signals: [Int32]
    }
    /// Newest last.
    private var requests: [Listening] = []

    func add(_ request: StopRequest, signals: [Int32]) {
        lock.withLock { _ in requests.append(Listening(id: ObjectIdentifier(request), request: request, signals: signals)) }
        starting.withLock { _ in
            for number in signals where sources[number] == nil && !ignored.contains(number) { listen(for: number) }
        }
    }

    /// Forgets a request; `waiting`, returns once a signal handed to it meanwhile has been handled (not from the queue).
    func remove(_ id: ObjectIdentifier, waiting: Bool = false) {
        lock.withLock { _ in requests.removeAll { $0.id == id } }
        if waiting { queue.sync {} }   // (a delivery takes its request under the lock, on the queue)
    }

    /// Starts hearing signal `number`, unless it is ignored (by whoever started this process). Returns once heard.
    private func listen(for number: Int32) {
        #if os(Linux)
        // libdispatch installs its own handler when the source is registered. Ignoring the signal first, as Darwin's
        // kqueue needs, dropped one that came in the millisecond before.
        var current = sigaction()
        sigaction(number, nil, &current)
        let previous = current.__sigaction_handler.sa_handler
        #else
        let previous = signal(number, SIG_IGN)
        #endif
        guard !Self.isIgnoring(previous) else {
            ignored.insert(number)
            return
        }
        let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
        let registered = DispatchSemaphore(value: 0)
        source.setRegistrationHandler { registered.signal() }
        source.setEventHandler { [unowned self] in self.deliver(number, count: source.data) }   // (both kept for good)
        source.resume()
        _ = registered.wait(timeout: .now() + 5)
        sources[number] = source
    }

    /// Hands signal `number` to the newest live request that asked for it, or does what the signal does by default.
    private func deliver(_ number: Int32, count: UInt) {
        let request = lock.withLock { _ in requests.last { $0.signals.contains(number) && $0.request != nil }?.request }
        guard let request else { return Self.endByDefault(number) }
        request.receive(number, count: count)
    }

    /// Ends the process as signal `number` would with its default action (terminate), which the listening replaced.
    private static func endByDefault(_ number: Int32) {
        signal(number, SIG_DFL)
        kill(getpid(), number)
        sleep(1)
        _exit(128 + number)   // (the signal blocked where it was sent: the exit status a shell shows for it)
    }

    /// Whether `handler` is SIG_IGN (C's function pointers compare by address).
    private static func isIgnoring(_ handler: (@convention(c) (Int32) -> Void)?) -> Bool {
        func address(_ handler: (@convention(c) (Int32) -> Void)?) -> Int { handler.map { unsafeBitCast($0, to: Int.self) } ?? 0 }
        return address(handler) == address(SIG_IGN)
    }
}
