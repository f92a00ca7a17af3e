import Foundation
import RepriseCore
import RepriseSchedules

public enum ScheduleStage {
    /// A plan is up to date when its config and the shards manifest it was built from are unchanged.
    public static func state(shards: String, output: String, config: ScheduleConfig) throws -> PipelineRunner.StageState {
        try PipelineRunner.stageState(ScheduleManifest.self, output: output, config: try config.resolved(),
                                      hashes: { ($0.configHash, $0.inputHash) },
                                      inputHash: { try ScheduleBuilder.inputHash(shards: shards) })
    }
}
