// Package ml is the root of smartmaint's machine-learning core, written in
// pure Go so that the platform trains, saves, loads and scores its own
// models without a Python runtime.
//
// The subpackages, each named for what it provides:
//
//	iforest    Isolation Forest anomaly detector (Liu, Ting and Zhou 2008)
//	gbdt       histogram gradient-boosted decision trees, binary logistic loss
//	tree       the flattened tree ensemble both of them score with
//	stats      streaming EWMA and robust (median/MAD) z-scores for cold-start sensors
//	forecast   damped-trend Holt and Holt-Winters with prediction intervals, time to threshold
//	drift      two-sample Kolmogorov–Smirnov test and Population Stability Index
//	metrics    classification metrics, ROC/PR AUC, k-fold and stratified splits
//	vibration  window features of vibration signals (RMS, kurtosis, crest factor, FFT bands)
//	bearing    run-to-failure bearing snapshots: features, detector, first sustained alarm
//	modelfile  the versioned, self-describing, checksummed model file format
//	training   cross-validation and final fits behind `smartmaint train`
//
// See docs/ML.md for the algorithms, defaults and the comparison with
// scikit-learn.
package ml
