package registry

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	loadedVersion = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "smartmaint_model_loaded_version",
		Help: "Version of each model this process serves, by tenant, model and alias.",
	}, []string{"tenant", "model", "alias"})
	modelLoads = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "smartmaint_model_loads_total",
		Help: "Model versions loaded and swapped in, by tenant and model.",
	}, []string{"tenant", "model"})
	modelLoadFailures = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "smartmaint_model_load_failures_total",
		Help: "Model versions that could not be loaded (the previous version kept serving), by tenant, model and reason: missing, checksum, fetch or decode.",
	}, []string{"tenant", "model", "reason"})
)
