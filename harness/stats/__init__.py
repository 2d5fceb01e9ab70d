"""Statistics: intervals for rates, paired comparisons, grader-error correction, and
inter-rater agreement.

The names load on first use: most need NumPy, pandas or SciPy, and the CLI checks its options
against the agreement's named choices (`LEVELS`, `POLICIES`) before loading any of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness._lazy import lazy_exports

if TYPE_CHECKING:
    from harness.stats._agreement import (
        COLLAPSES,
        UNDECIDABLE,
        Collapse,
        KappaParts,
        ReferenceRates,
        binary_vs_reference,
        bootstrap_alpha_ci,
        cohen_from_table,
        cohen_kappa,
        confusion_matrix,
        fleiss_from_counts,
        fleiss_kappa,
        gwet_ac1,
        gwet_from_counts,
        krippendorff_alpha,
        label_key,
        observed_agreement,
        percent_agreement,
        resolve_collapse,
    )
    from harness.stats._agreement_summary import (
        AgreementSummary,
        Bootstrap,
        Confusion,
        GroupedAgreement,
        PairAgreement,
        PolicyCounts,
        RaterVsReference,
        agreement_summary,
        require_columns,
    )
    from harness.stats._bootstrap import (
        cluster_bootstrap_ci,
        paired_cluster_bootstrap_diff,
    )
    from harness.stats._choices import (
        LEVELS,
        POLICIES,
        Level,
        UndecidablePolicy,
    )
    from harness.stats._clustered import (
        clustered_interval,
        paired_clustered_difference,
    )
    from harness.stats._correction import (
        CorrectedRate,
        corrected_rate_ci,
        corrected_rate_from_validity,
        estimate_sensitivity_specificity,
        rogan_gladen,
    )
    from harness.stats._intervals import (
        wilson_interval,
    )
    from harness.stats._paired import (
        PairedComparison,
        holm_bonferroni,
        mcnemar_exact,
        paired_comparison,
        paired_difference_ci,
    )

__all__ = [
    "COLLAPSES",
    "LEVELS",
    "POLICIES",
    "UNDECIDABLE",
    "AgreementSummary",
    "Bootstrap",
    "Collapse",
    "Confusion",
    "CorrectedRate",
    "GroupedAgreement",
    "KappaParts",
    "Level",
    "PairAgreement",
    "PairedComparison",
    "PolicyCounts",
    "RaterVsReference",
    "ReferenceRates",
    "UndecidablePolicy",
    "agreement_summary",
    "binary_vs_reference",
    "bootstrap_alpha_ci",
    "cluster_bootstrap_ci",
    "clustered_interval",
    "cohen_from_table",
    "cohen_kappa",
    "confusion_matrix",
    "corrected_rate_ci",
    "corrected_rate_from_validity",
    "estimate_sensitivity_specificity",
    "fleiss_from_counts",
    "fleiss_kappa",
    "gwet_ac1",
    "gwet_from_counts",
    "holm_bonferroni",
    "krippendorff_alpha",
    "label_key",
    "mcnemar_exact",
    "observed_agreement",
    "paired_cluster_bootstrap_diff",
    "paired_clustered_difference",
    "paired_comparison",
    "paired_difference_ci",
    "percent_agreement",
    "require_columns",
    "resolve_collapse",
    "rogan_gladen",
    "wilson_interval",
]

_HOMES = {
    "COLLAPSES": "_agreement",
    "LEVELS": "_choices",
    "POLICIES": "_choices",
    "UNDECIDABLE": "_agreement",
    "AgreementSummary": "_agreement_summary",
    "Bootstrap": "_agreement_summary",
    "Collapse": "_agreement",
    "Confusion": "_agreement_summary",
    "CorrectedRate": "_correction",
    "GroupedAgreement": "_agreement_summary",
    "KappaParts": "_agreement",
    "Level": "_choices",
    "PairAgreement": "_agreement_summary",
    "PairedComparison": "_paired",
    "PolicyCounts": "_agreement_summary",
    "RaterVsReference": "_agreement_summary",
    "ReferenceRates": "_agreement",
    "UndecidablePolicy": "_choices",
    "agreement_summary": "_agreement_summary",
    "binary_vs_reference": "_agreement",
    "bootstrap_alpha_ci": "_agreement",
    "cluster_bootstrap_ci": "_bootstrap",
    "clustered_interval": "_clustered",
    "cohen_from_table": "_agreement",
    "cohen_kappa": "_agreement",
    "confusion_matrix": "_agreement",
    "corrected_rate_ci": "_correction",
    "corrected_rate_from_validity": "_correction",
    "estimate_sensitivity_specificity": "_correction",
    "fleiss_from_counts": "_agreement",
    "fleiss_kappa": "_agreement",
    "gwet_ac1": "_agreement",
    "gwet_from_counts": "_agreement",
    "holm_bonferroni": "_paired",
    "krippendorff_alpha": "_agreement",
    "label_key": "_agreement",
    "mcnemar_exact": "_paired",
    "observed_agreement": "_agreement",
    "paired_cluster_bootstrap_diff": "_bootstrap",
    "paired_clustered_difference": "_clustered",
    "paired_comparison": "_paired",
    "paired_difference_ci": "_paired",
    "percent_agreement": "_agreement",
    "require_columns": "_agreement_summary",
    "resolve_collapse": "_agreement",
    "rogan_gladen": "_correction",
    "wilson_interval": "_intervals",
}


__getattr__, __dir__ = lazy_exports(__name__, _HOMES, globals(), __all__)
