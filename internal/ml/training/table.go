package training

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// WriteTable prints the per-fold metrics, their mean ± standard deviation
// and the pooled confusion matrix, for the positive (failure) class.
func (r *Report) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "%s on %s, stratified %d-fold cross-validation, seed %d, threshold %.4g\n\n",
		r.Model, r.Dataset, len(r.Folds), r.Seed, r.Threshold)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "fold\ttrain\ttest\tROC AUC\tPR AUC\tF1\tprecision\trecall\taccuracy\ttrees\tseconds\t")
	for _, f := range r.Folds {
		fmt.Fprintf(tw, "%d\t%d\t%d\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%s\t%.2f\t\n",
			f.Fold+1, f.TrainRows, f.TestRows, f.ROCAUC, f.PRAUC, f.F1, f.Precision, f.Recall, f.Accuracy, trees(f.Iterations), f.Seconds)
	}
	m, s := r.Mean, r.Std
	fmt.Fprintf(tw, "mean\t%d\t%d\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%s\t%.2f\t\n",
		m.TrainRows, m.TestRows, m.ROCAUC, m.PRAUC, m.F1, m.Precision, m.Recall, m.Accuracy, trees(m.Iterations), m.Seconds)
	fmt.Fprintf(tw, "± std\t\t\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t\t%.2f\t\n",
		s.ROCAUC, s.PRAUC, s.F1, s.Precision, s.Recall, s.Accuracy, s.Seconds)
	if err := tw.Flush(); err != nil {
		return err
	}
	c := m.Confusion
	_, err := fmt.Fprintf(w, "\npooled confusion matrix (held-out rows): TP %d  FP %d  TN %d  FN %d\n", c.TP, c.FP, c.TN, c.FN)
	return err
}

func trees(n int) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprint(n)
}
