import ArgumentParser
import Foundation
import RepriseCore
import ReprisePipeline

/// `reprise run`'s options for data preparation split into tasks (see `PipelineTasks`).
struct TaskOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Run only task I's share of the data stages (0-based, below --tasks).",
        discussion: """
        Example: reprise run P.yaml --task I --tasks 3 for I = 0, 1, 2 (any order, any machines sharing work_dir), \
        then reprise run P.yaml --merge; run the tasks and the merge once more to pack. Without --task, \
        SLURM's array variables choose the task: (SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN) of \
        SLURM_ARRAY_TASK_COUNT, or, with --tasks N, SLURM_ARRAY_TASK_ID itself.
        """,
        valueName: "I"))
    var task: Int?
    @Option(help: ArgumentHelp("The number of tasks the data stages are split into.", valueName: "N"))
    var tasks: Int?
    @Flag(help: "Merge the tasks' shares into the global outputs (after all tasks have finished).")
    var merge = false

    /// nil for an ordinary run of every stage in this process.
    func mode() throws -> PipelineTasks.Mode? {
        do {
            return try PipelineTasks.mode(task: task, tasks: tasks, merge: merge, environment: ProcessInfo.processInfo.environment)
        } catch let e as RepriseError {
            throw ValidationError(e.message)
        }
    }
}
