package mlops

// Stage is where a retraining stands, as its workflow's query reports it.
type Stage string

// The retraining stages, in order.
const (
	StageTraining   Stage = "training"
	StageEvaluating Stage = "evaluating"
	StageAwaiting   Stage = "awaiting_approval"
	StagePromoting  Stage = "promoting"
	StageDone       Stage = "done"
)
