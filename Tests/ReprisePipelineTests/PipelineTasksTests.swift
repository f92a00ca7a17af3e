import ReprisePipeline
import RepriseCore
import XCTest

/// How `--task`, `--tasks`, `--merge` and SLURM's array variables choose what a process does.
final class PipelineTasksTests: XCTestCase {
    func testTaskFlagsAndSlurmVariables() throws {
        typealias M = PipelineTasks.Mode
        XCTAssertEqual(try PipelineTasks.mode(task: nil, tasks: nil, merge: false, environment: [:]), nil)
        XCTAssertEqual(try PipelineTasks.mode(task: 2, tasks: 3, merge: false, environment: [:]), M.task(index: 2, count: 3))
        XCTAssertEqual(try PipelineTasks.mode(task: nil, tasks: nil, merge: true, environment: ["SLURM_ARRAY_TASK_ID": "4"]), M.merge(count: nil))
        XCTAssertEqual(try PipelineTasks.mode(task: nil, tasks: nil, merge: false,
                                              environment: ["SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "4"]), M.task(index: 0, count: 4))
        XCTAssertEqual(try PipelineTasks.mode(task: nil, tasks: nil, merge: false,
                                              environment: ["SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_COUNT": "4"]),
                       M.task(index: 3, count: 4))
        XCTAssertEqual(try PipelineTasks.mode(task: nil, tasks: nil, merge: false,
                                              environment: ["SLURM_ARRAY_TASK_ID": "7", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_STEP": "2",
                                                            "SLURM_ARRAY_TASK_COUNT": "4"]), M.task(index: 3, count: 4))
        XCTAssertThrowsError(try PipelineTasks.mode(task: nil, tasks: nil, merge: false,
                                                    environment: ["SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_COUNT": "4"])) {
            XCTAssertTrue($0.oneLine.contains("--array=0-3"), $0.oneLine)
        }
        // With --tasks, array ids are task numbers: --array=3,5 reruns tasks 3 and 5 (SLURM's minimum is 3 then).
        XCTAssertEqual(try PipelineTasks.mode(task: nil, tasks: 8, merge: false,
                                              environment: ["SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_MIN": "3", "SLURM_ARRAY_TASK_COUNT": "2"]),
                       M.task(index: 5, count: 8))
        XCTAssertThrowsError(try PipelineTasks.mode(task: nil, tasks: 8, merge: false, environment: ["SLURM_ARRAY_TASK_ID": "8"])) {
            XCTAssertTrue($0.oneLine.contains("array ids are task numbers"), $0.oneLine)
        }
        XCTAssertThrowsError(try PipelineTasks.mode(task: nil, tasks: 8, merge: false, environment: [:]))
        XCTAssertThrowsError(try PipelineTasks.mode(task: 3, tasks: 3, merge: false, environment: [:])) {
            XCTAssertTrue($0.oneLine.contains("numbered 0 to 2"), $0.oneLine)
        }
        XCTAssertThrowsError(try PipelineTasks.mode(task: 1, tasks: nil, merge: false, environment: [:]))
        XCTAssertThrowsError(try PipelineTasks.mode(task: 1, tasks: 2, merge: true, environment: [:]))
    }
}
