import Foundation

/// A check that the threads a command is asked for can exist, made before any work starts.
///
/// The parallel loops run on the system's shared worker pool (Dispatch), which retries a failed thread
/// creation forever: under a process limit (`ulimit -u`) a loop that needs one more thread never
/// finishes. `check` starts the extra threads once, all alive together, and throws a clear error when
/// the system refuses one.
public enum WorkerThreads {
    /// Starts `threads - 1` threads (the calling thread is the other one), waits until all of them run,
    /// then lets them end. Throws "cannot start N worker threads: REASON; lower --threads".
    public static func check(_ threads: Int) throws {
        let extra = threads - 1
        guard extra > 0 else { return }
        let gate = Gate()
        var started: [pthread_t] = []
        started.reserveCapacity(extra)
        var failure: Int32 = 0
        for _ in 0..<extra {
            var t = pthread_t()
            let context = Unmanaged.passRetained(gate).toOpaque()
            let r = pthread_create(&t, nil, { raw in
                let gate = Unmanaged<Gate>.fromOpaque(raw!).takeRetainedValue()
                gate.wait()
                return nil
            }, context)
            if r != 0 {
                Unmanaged<Gate>.fromOpaque(context).release()
                failure = r
                break
            }
            started.append(t)
        }
        gate.open()
        for t in started { pthread_join(t, nil) }
        if failure != 0 {
            throw RepriseError("cannot start \(threads) worker threads: \(String(cString: strerror(failure))) "
                + "(\(started.count + 1) could run); lower --threads")
        }
    }

    /// Holds the probe threads until every one has been created.
    private final class Gate: @unchecked Sendable {
        private let cond = NSCondition()
        private var isOpen = false
        func wait() { cond.lock(); while !isOpen { cond.wait() }; cond.unlock() }
        func open() { cond.lock(); isOpen = true; cond.broadcast(); cond.unlock() }
    }
}
