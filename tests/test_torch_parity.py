"""Every public jaxloss name that ``torch.nn.functional`` also has agrees with torch 2.13 on a
shared input (issue 11): the same number, the same gradient, under the same name.

``RECORDED`` holds torch 2.13's values and gradients (float64, CPU), printed by
``python tests/record_torch_values.py`` with ``torch==2.13.0`` installed; torch is never a test
dependency. ``test_every_torch_named_export_is_recorded`` fails when an export that torch also
has (``TORCH_F_LOSSES``, torch 2.13's list) has no recorded case, so a new loss under a
PyTorch name cannot land without being pinned to PyTorch's numbers.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxloss

# torch 2.13's loss functions in torch.nn.functional (names ending in _loss, and the four
# cross-entropies and kl_div), from `dir(torch.nn.functional)`.
TORCH_F_LOSSES = (
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "cosine_embedding_loss",
    "cross_entropy", "ctc_loss", "gaussian_nll_loss", "hinge_embedding_loss", "huber_loss",
    "kl_div", "l1_loss", "margin_ranking_loss", "mse_loss", "multi_margin_loss",
    "multilabel_margin_loss", "multilabel_soft_margin_loss", "nll_loss", "poisson_nll_loss",
    "smooth_l1_loss", "soft_margin_loss", "triplet_margin_loss",
    "triplet_margin_with_distance_loss",
)

_I = np.arange(12, dtype=np.float64)
INPUTS = {  # (3, 4) float64 unless noted; plain formulas, so they are the same everywhere
    "x": (2.0 * np.sin(1.3 * _I)).reshape(3, 4),
    "y": (1.5 * np.cos(0.7 * _I + 0.4)).reshape(3, 4),
    "weights": (0.25 + 0.15 * _I).reshape(3, 4),
    "pos_weight": np.array([0.5, 1.0, 2.0, 3.0]),
    "logits": (1.7 * np.cos(2.1 * _I)).reshape(3, 4),
    "labels": np.array([2, -100, 0], np.int64),
    "class_weights": np.array([0.5, 1.0, 2.0, 1.5]),
    "soft": np.array([[0.1, 0.2, 0.3, 0.4], [0.0, 1.0, 0.0, 0.0], [0.25, 0.25, 0.5, 0.0]]),
    # Probabilities with the clamped edges 0 and 1, soft binary targets with exact 0 and 1.
    "probs": np.array([[0.0, 1.0, 0.3, 0.9], [1e-50, 0.5, 0.2, 1.0], [0.7, 0.05, 0.0, 0.6]]),
    "inner_probs": 0.05 + 0.9 * np.sin(0.9 * _I).reshape(3, 4) ** 2,
    "binary": np.array([[1.0, 0.0, 0.0, 1.0], [1.0, 0.3, 0.8, 1.0], [0.0, 0.5, 0.0, 0.6]]),
    "counts": np.array([[0.0, 1.0, 2.0, 5.0], [3.0, 0.0, 7.0, 1.0], [4.0, 2.0, 0.0, 9.0]]),
    "rates": (0.2 + 0.5 * _I).reshape(3, 4),
    "row_var": np.array([0.5, 2.0, 1.2]),
    "var": np.array([[0.5, 2.0, 1e-4, 1.0], [0.3, 0.0, 0.7, 3.0], [1.0, 1.0, 0.002, 0.9]]),
    # Margin, ranking and embedding losses: +-1 targets, class ids, -1-terminated label lists.
    "pm1": np.array([[1.0, -1.0, -1.0, 1.0], [-1.0, 1.0, 1.0, -1.0], [1.0, 1.0, -1.0, -1.0]]),
    "pm1_rows": np.array([1.0, -1.0, -1.0]),
    "classes": np.array([2, 0, 3], np.int64),
    "label_lists": np.array([[3, 0, -1, 1], [1, -1, 2, 2], [0, 1, 2, 3]], np.int64),
}


def jax_calls():
    """case id -> (function of the inputs, names differentiated): the jaxloss port of the
    torch call of the same id in ``record_torch_values.torch_calls``."""
    J = jaxloss
    return {
        "cross_entropy[weights,smoothing,ignore]": (
            lambda a: J.cross_entropy(a["logits"], a["labels"], class_weights=a["class_weights"],
                                      label_smoothing=0.1, ignore_index=-100),
            ("logits",),
        ),
        "cross_entropy[probs,sum]": (
            lambda a: J.cross_entropy(a["logits"], a["soft"], reduction="sum"), ("logits",)),
        "nll_loss[weights,ignore]": (
            lambda a: J.nll_loss(jax.nn.log_softmax(a["logits"], -1), a["labels"],
                                 class_weights=a["class_weights"]),
            ("logits",),
        ),
        "binary_cross_entropy[weights]": (
            lambda a: J.binary_cross_entropy(a["probs"], a["binary"], weights=a["weights"]),
            ("probs",),
        ),
        "binary_cross_entropy[interior,sum]": (  # no clamped log: the target gradient too
            lambda a: J.binary_cross_entropy(a["inner_probs"], a["binary"], reduction="sum"),
            ("inner_probs", "binary"),
        ),
        "binary_cross_entropy[none]": (
            lambda a: J.binary_cross_entropy(a["probs"], a["binary"], reduction="none"),
            ("probs",),
        ),
        "binary_cross_entropy_with_logits[pos_weight,weights]": (
            lambda a: J.binary_cross_entropy_with_logits(
                a["x"], a["binary"], weights=a["weights"], pos_weight=a["pos_weight"]),
            ("x", "binary"),
        ),
        "l1_loss[plain]": (lambda a: J.l1_loss(a["x"], a["y"]), ("x", "y")),
        "l1_loss[weights]": (lambda a: J.l1_loss(a["x"], a["y"], weights=a["weights"]), ("x",)),
        "l1_loss[weights,sum]": (
            lambda a: J.l1_loss(a["x"], a["y"], weights=a["weights"], reduction="sum"), ("x",)),
        "mse_loss[weights]": (
            lambda a: J.mse_loss(a["x"], a["y"], weights=a["weights"]), ("x",)),
        "mse_loss[none]": (lambda a: J.mse_loss(a["x"], a["y"], reduction="none"), ("x",)),
        "huber_loss[plain]": (lambda a: J.huber_loss(a["x"], a["y"]), ("x", "y")),
        "huber_loss[delta,weights]": (
            lambda a: J.huber_loss(a["x"], a["y"], delta=0.5, weights=a["weights"]), ("x",)),
        "smooth_l1_loss[beta=0]": (
            lambda a: J.smooth_l1_loss(a["x"], a["y"], beta=0.0), ("x",)),
        "smooth_l1_loss[beta,sum]": (
            lambda a: J.smooth_l1_loss(a["x"], a["y"], beta=0.5, reduction="sum"), ("x",)),
        "kl_div[batchmean]": (
            lambda a: J.kl_div(jax.nn.log_softmax(a["logits"], -1), a["soft"],
                               reduction="batchmean"),
            ("logits",),
        ),
        "kl_div[log_target,sum]": (
            lambda a: J.kl_div(jax.nn.log_softmax(a["logits"], -1),
                               jax.nn.log_softmax(a["x"], -1), reduction="sum",
                               log_target=True),
            ("logits", "x"),
        ),
        "margin_ranking_loss[margin]": (
            lambda a: J.margin_ranking_loss(a["x"], a["y"], a["pm1"], margin=0.3), ("x", "y")),
        "hinge_embedding_loss[margin,none]": (
            lambda a: J.hinge_embedding_loss(a["x"], a["pm1"], margin=1.5, reduction="none"),
            ("x",),
        ),
        "soft_margin_loss": (lambda a: J.soft_margin_loss(a["x"], a["pm1"]), ("x",)),
        "multilabel_soft_margin_loss[weights]": (
            lambda a: J.multilabel_soft_margin_loss(a["x"], a["binary"],
                                                    class_weights=a["class_weights"]),
            ("x",),
        ),
        "multi_margin_loss[p=2,margin,weights]": (
            lambda a: J.multi_margin_loss(a["x"], a["classes"], p=2, margin=0.7,
                                          class_weights=a["class_weights"]),
            ("x",),
        ),
        "multilabel_margin_loss[sum]": (
            lambda a: J.multilabel_margin_loss(a["x"], a["label_lists"], reduction="sum"),
            ("x",),
        ),
        "cosine_embedding_loss[margin]": (
            lambda a: J.cosine_embedding_loss(a["x"], a["y"], a["pm1_rows"], margin=0.2),
            ("x", "y"),
        ),
        "triplet_margin_loss[swap]": (
            lambda a: J.triplet_margin_loss(a["x"], a["y"], a["logits"], swap=True),
            ("x", "y", "logits"),
        ),
        "triplet_margin_with_distance_loss[margin]": (
            lambda a: J.triplet_margin_with_distance_loss(a["x"], a["y"], a["logits"],
                                                          margin=0.5),
            ("x", "y", "logits"),
        ),
        "poisson_nll_loss[plain]": (
            lambda a: J.poisson_nll_loss(a["x"], a["counts"]), ("x",)),
        "poisson_nll_loss[rates,full,eps]": (
            lambda a: J.poisson_nll_loss(a["rates"], a["counts"], log_input=False, full=True,
                                         eps=0.1),
            ("rates",),
        ),
        "gaussian_nll_loss[row var,full]": (
            lambda a: J.gaussian_nll_loss(a["x"], a["y"], a["row_var"], full=True),
            ("x", "row_var"),
        ),
        "gaussian_nll_loss[clamped var,sum]": (
            lambda a: J.gaussian_nll_loss(a["x"], a["y"], a["var"], eps=1e-2, reduction="sum"),
            ("x", "var"),
        ),
    }


# fmt: off
# torch 2.13.0+cpu, python tests/record_torch_values.py
RECORDED = {
    'cross_entropy[weights,smoothing,ignore]': {
        'value': 3.090273088716887,
        'd/dlogits': [
            0.3520458209381409, 0.0176500004900179, -0.7116558480851657, 0.34196002665700687,
            0.0, 0.0, 0.0, 0.0, -0.169502764654305, 0.17524009345789282, -0.00663451684852702,
            0.0008971880449391943
        ],
    },
    'cross_entropy[probs,sum]': {
        'value': 6.906688221758876,
        'd/dlogits': [
            0.3636958713482349, -0.16409090845452223, -0.2631894130976178, 0.06358445020390496,
            0.06144578785218835, -0.933809746624176, 0.8123934726926351, 0.05997048607935272,
            -0.18262071588828266, 0.5553917106864906, -0.4418892036892479, 0.06911820889103998
        ],
    },
    'nll_loss[weights,ignore]': {
        'value': 3.181059363233472,
        'd/dlogits': [
            0.37095669707858797, 0.028727273236382234, -0.7705515304780943, 0.370867560163124,
            0.0, 0.0, 0.0, 0.0, -0.18652414317765653, 0.16107834213729813, 0.01162215926215042,
            0.013823641778207996
        ],
    },
    'binary_cross_entropy[weights]': {
        'value': 13.163098320405984,
        'd/dprobs': [
            -20833333416.579227, 33333333466.526764, 0.06547619047619048, -0.06481481481481481,
            -70833333616.36937, 0.06666666666666667, -0.359375, 0.0, 0.4027777777777777,
            -1.2631578947368418, 0.0, 0.0
        ],
    },
    'binary_cross_entropy[interior,sum]': {
        'value': 17.93428383764501,
        'd/dinner_probs': [
            -20.0, 2.514084799392152, 10.367129858266843, -4.664435695741946,
            -4.420047580064752, 7.448855393734637, -0.8770336915974809, -19.898740671612718,
            2.6104058786266635, 4.278762807550041, 1.2544808193376589, -1.991510130711301
        ],
        'd/dbinary': [
            2.9444389791664403, -0.4148111636132931, -2.2372067375094438, 1.2986743523356674,
            1.2296544632773738, -2.3137401577510643, -0.3534273624413622, 2.939095288714042,
            -0.47648624575075565, -2.160194949335581, 1.3685298118920042, 1.1614429930456331
        ],
    },
    'binary_cross_entropy[none]': {
        'value': [
            100.0, 100.0, 0.35667494393873234, 0.10536051565782628, 100.0, 0.6931471805599453,
            1.3321790402101223, -0.0, 1.203972804325936, 1.5235127839707707, 0.0,
            0.6730116670092565
        ],
        'd/dprobs': [
            -1000000003995.8029, 1000000003995.8029, 1.4285714285714286, -1.1111111111111112,
            -1000000003995.8029, 0.8, -3.75, 0.0, 3.3333333333333326, -9.473684210526315, 0.0,
            0.0
        ],
    },
    'binary_cross_entropy_with_logits[pos_weight,weights]': {
        'value': 1.2446289520633833,
        'd/dx': [
            -0.005208333333333333, 0.029097663402573023, 0.033784219902370106,
            -0.13969768967779425, -0.030248414944539424, 0.02549424758920575,
            -0.0014486600353407957, -0.11233764292273317, 0.019375190206004176,
            -0.04281625647081019, 0.10186977078684832, 0.02083362114812354
        ],
        'd/dbinary': [
            -0.007220283130832763, -0.06423721236114621, -0.03327430983632102,
            0.2670037676936878, 0.056991457931176125, -0.03585333134796925,
            -0.17919021688896727, 0.02275456950779825, 0.08947026126405803, 0.20319562237840852,
            -0.0702282141557043, -0.2712735516144596
        ],
    },
    'l1_loss[plain]': {
        'value': 1.4028371500965677,
        'd/dx': [
            -0.08333333333333333, 0.08333333333333333, 0.08333333333333333,
            -0.08333333333333333, -0.08333333333333333, 0.08333333333333333,
            0.08333333333333333, -0.08333333333333333, -0.08333333333333333,
            -0.08333333333333333, 0.08333333333333333, 0.08333333333333333
        ],
        'd/dy': [
            0.08333333333333333, -0.08333333333333333, -0.08333333333333333,
            0.08333333333333333, 0.08333333333333333, -0.08333333333333333,
            -0.08333333333333333, 0.08333333333333333, 0.08333333333333333, 0.08333333333333333,
            -0.08333333333333333, -0.08333333333333333
        ],
    },
    'l1_loss[weights]': {
        'value': 1.557758968312806,
        'd/dx': [
            -0.01937984496124031, 0.031007751937984496, 0.04263565891472868,
            -0.05426356589147287, -0.06589147286821705, 0.07751937984496124,
            0.08914728682170542, -0.10077519379844961, -0.11240310077519379,
            -0.12403100775193797, 0.13565891472868216, 0.14728682170542634
        ],
    },
    'l1_loss[weights,sum]': {
        'value': 20.095090691235196,
        'd/dx': [
            -0.25, 0.4, 0.55, -0.7, -0.85, 1.0, 1.15, -1.3, -1.45, -1.5999999999999999, 1.75,
            1.9
        ],
    },
    'mse_loss[weights]': {
        'value': 3.6999444523553233,
        'd/dx': [
            -0.05355005779086541, 0.07731610472533457, 0.11697569567835771,
            -0.018863849074927694, -0.03551117450944964, 0.23552533836834752,
            0.3860640005154358, -0.03897274626992993, -0.6959794005911538, -0.7182739572566929,
            0.04951905333495635, 0.6889665585101605
        ],
    },
    'mse_loss[none]': {
        'value': [
            1.908795048015561, 1.554316215786994, 1.881851387993309, 0.030212313003970332,
            0.0726125437155377, 2.307781577025157, 4.688591132915618, 0.03738993797816898,
            9.584648623961733, 8.38416283785112, 0.033311025207615495, 5.470266844072792
        ],
        'd/dx': [
            -2.7631829820086553, 2.4934443773920396, 2.743611771365117, -0.3476337900950961,
            -0.5389342954963534, 3.038276864951683, 4.330630962303585, -0.3867295591400739,
            -6.191816736293713, -5.7910837803820865, 0.36502616458339254, 4.677720318305827
        ],
    },
    'huber_loss[plain]': {
        'value': 1.0084705672045,
        'd/dx': [
            -0.08333333333333333, 0.08333333333333333, 0.08333333333333333,
            -0.014484741253962336, -0.022455595645681392, 0.08333333333333333,
            0.08333333333333333, -0.01611373163083641, -0.08333333333333333,
            -0.08333333333333333, 0.015209423524308022, 0.08333333333333333
        ],
        'd/dy': [
            0.08333333333333333, -0.08333333333333333, -0.08333333333333333,
            0.014484741253962336, 0.022455595645681392, -0.08333333333333333,
            -0.08333333333333333, 0.01611373163083641, 0.08333333333333333, 0.08333333333333333,
            -0.015209423524308022, -0.08333333333333333
        ],
    },
    'huber_loss[delta,weights]': {
        'value': 0.7203487573504325,
        'd/dx': [
            -0.010416666666666666, 0.016666666666666666, 0.02291666666666667,
            -0.010139318877773635, -0.019087256298829184, 0.041666666666666664,
            0.04791666666666666, -0.020947851120087336, -0.06041666666666666,
            -0.06666666666666665, 0.026616491167539037, 0.07916666666666666
        ],
    },
    'smooth_l1_loss[beta=0]': {
        'value': 1.4028371500965677,
        'd/dx': [
            -0.08333333333333333, 0.08333333333333333, 0.08333333333333333,
            -0.08333333333333333, -0.08333333333333333, 0.08333333333333333,
            0.08333333333333333, -0.08333333333333333, -0.08333333333333333,
            -0.08333333333333333, 0.08333333333333333, 0.08333333333333333
        ],
    },
    'smooth_l1_loss[beta,sum]': {
        'value': 14.188409716406646,
        'd/dx': [
            -1.0, 1.0, 1.0, -0.3476337900950961, -0.5389342954963534, 1.0, 1.0,
            -0.3867295591400739, -1.0, -1.0, 0.36502616458339254, 1.0
        ],
    },
    'kl_div[batchmean]': {
        'value': 1.529037741695097,
        'd/dlogits': [
            0.12123195711607833, -0.054696969484840735, -0.08772980436587259,
            0.021194816734635014, 0.020481929284062783, -0.311269915541392, 0.27079782423087834,
            0.019990162026450906, -0.060873571962760886, 0.1851305702288302,
            -0.1472964012297493, 0.02303940296367999
        ],
    },
    'kl_div[log_target,sum]': {
        'value': 4.145318436148925,
        'd/dlogits': [
            0.3721731882466485, -0.5928217279289948, -0.219807667185358, 0.4404562068677041,
            0.04586929859315663, -0.07398759560710984, 0.14072916012175318, -0.1126108631077999,
            0.04813259708738993, 0.7834360562067558, -0.17542280162052978, -0.6561458516736158
        ],
        'd/dx': [
            -0.3389061730393646, 0.4919064969569534, -0.03554893770809466, -0.11745138620949398,
            -0.023533820004839858, 0.08577708822434921, -0.22076848226054016,
            0.15852521404103076, -0.06119526330284471, -0.12138902173867348,
            -0.12506863007874314, 0.3076529151202615
        ],
    },
    'margin_ranking_loss[margin]': {
        'value': 1.268660669407896,
        'd/dx': [
            -0.08333333333333333, 0.08333333333333333, 0.08333333333333333,
            -0.08333333333333333, 0.08333333333333333, -0.0, -0.0, 0.08333333333333333,
            -0.08333333333333333, -0.08333333333333333, 0.08333333333333333, 0.08333333333333333
        ],
        'd/dy': [
            0.08333333333333333, -0.08333333333333333, -0.08333333333333333,
            0.08333333333333333, -0.08333333333333333, 0.0, 0.0, -0.08333333333333333,
            0.08333333333333333, 0.08333333333333333, -0.08333333333333333, -0.08333333333333333
        ],
    },
    'hinge_embedding_loss[margin,none]': {
        'value': [
            0.0, 0.0, 0.4689972563570717, -1.3755323183679482, 3.2669093114403065,
            0.43023997617563103, 1.99708669074921, 0.8618032753012957, -1.6556529381713074,
            -1.5239671678380642, 0.6596659263467182, 0.0
        ],
        'd/dx': [
            1.0, 0.0, -1.0, 1.0, -1.0, 1.0, 1.0, -1.0, 1.0, 1.0, -1.0, 0.0
        ],
    },
    'soft_margin_loss': {
        'value': 1.1996314160318082,
        'd/dx': [
            -0.041666666666666664, 0.07274415850643254, 0.06142585436794564,
            -0.06652270937037823, 0.012160592287358218, -0.03283908574412759,
            -0.009959095025124372, 0.05452880950699149, -0.06997113319126148,
            -0.06842682696092305, 0.058211297592484744, 0.07316593807371377
        ],
    },
    'multilabel_soft_margin_loss[weights]': {
        'value': 1.3134079134794512,
        'd/dx': [
            -0.020833333333333332, 0.07274415850643254, 0.1228517087358913,
            -0.09978406405556733, -0.035586370522987555, 0.02549424758920574,
            0.013415143283084581, -0.043206785739512754, 0.006681100071035923,
            -0.02676016029425637, 0.11642259518496947, 0.03474890711057066
        ],
    },
    'multi_margin_loss[p=2,margin,weights]': {
        'value': 2.0063638600662297,
        'd/dx': [
            0.0, 0.5320378757304858, -0.5320378757304858, 0.0, -0.8721876104953719,
            0.24142910730132808, 0.37199966684912633, 0.25875883634491753, 0.0, 0.0, 0.0, 0.0
        ],
    },
    'multilabel_margin_loss[sum]': {
        'value': 4.110526582196795,
        'd/dx': [
            -0.5, 0.5, 0.5, -0.5, 0.0, -0.5, 0.25, 0.25, 0.0, 0.0, 0.0, 0.0
        ],
    },
    'cosine_embedding_loss[margin]': {
        'value': 0.23647173718675654,
        'd/dx': [
            -0.08993460213653792, 0.004858947939080746, 0.048479242293456154,
            0.04314401714905315, -0.05621889650515061, -0.07202802604190806,
            -0.046189302238076706, 0.037448774530072615, 0.0, 0.0, 0.0, 0.0
        ],
        'd/dy': [
            0.059761897710735125, -0.09601448577932183, -0.08185477748061858,
            0.03755897304691924, -0.05369649413485769, 0.06209560494120428, 0.12344585080968157,
            0.009591064671157053, 0.0, 0.0, 0.0, 0.0
        ],
    },
    'triplet_margin_loss[swap]': {
        'value': 1.5137761185619263,
        'd/dx': [
            -0.0, 0.0, 0.0, -0.0, 0.10092234781869858, 0.0013566778479405794,
            0.22537332423479656, -0.2594664323738211, -0.21300417563292612, -0.1992185898946172,
            0.01255730776699992, 0.1609179907160596
        ],
        'd/dy': [
            0.0, -0.0, -0.0, 0.0, 0.033694475136646695, -0.18995560765017527,
            -0.2707546122094813, 0.02417851413803323, -0.053585836240947426, 0.2383378444957659,
            -0.20307607039808773, -0.20796224312981132
        ],
        'd/dlogits': [
            0.0, 0.0, 0.0, 0.0, -0.13461682295534527, 0.1885989298022347, 0.045381287974684784,
            0.23528791823578787, 0.26659001187387354, -0.03911925460114872, 0.1905187626310878,
            0.047044252413751694
        ],
    },
    'triplet_margin_with_distance_loss[margin]': {
        'value': 0.5529618915553232,
        'd/dx': [
            0.0, 0.0, 0.0, 0.0, 0.10092234781869858, 0.0013566778479405794, 0.22537332423479656,
            -0.2594664323738211, -0.15062723024928665, 0.03111568706033771,
            -0.11408956688778182, -0.03434316209097388
        ],
        'd/dy': [
            0.0, -0.0, -0.0, 0.0, 0.033694475136646695, -0.18995560765017527,
            -0.2707546122094813, 0.02417851413803323, 0.21300417563292612, 0.1992185898946172,
            -0.01255730776699992, -0.1609179907160596
        ],
        'd/dlogits': [
            -0.0, 0.0, 0.0, -0.0, -0.13461682295534527, 0.1885989298022347,
            0.045381287974684784, 0.23528791823578787, -0.062376945383639484,
            -0.2303342769549549, 0.12664687465478175, 0.1952611528070335
        ],
    },
    'poisson_nll_loss[plain]': {
        'value': 1.4414639758274141,
        'd/dx': [
            0.08333333333333333, 0.4891393388024983, 0.0669896661964706, -0.3956079132949939,
            -0.2357616458812711, 0.12813553941645922, 0.030630068320327775, 0.07442200698443967,
            -0.317419389572236, -0.14851283841628, 0.19309507860275568, -0.150322171957053
        ],
    },
    'poisson_nll_loss[rates,full,eps]': {
        'value': 2.2897936825028027,
        'd/drates': [
            0.08333333333333333, -0.020833333333333343, -0.044871794871794865,
            -0.14814814814814814, -0.025362318840579698, 0.08333333333333333,
            -0.09343434343434341, 0.06140350877192982, 0.0058139534883720895,
            0.048611111111111105, 0.08333333333333333, -0.04597701149425289
        ],
    },
    'gaussian_nll_loss[row var,full]': {
        'value': 2.3603197080034413,
        'd/dx': [
            -0.23026524850072128, 0.20778703144933663, 0.2286343142804264,
            -0.028969482507924672, -0.011227797822840696, 0.06329743468649339,
            0.09022147838132467, -0.008056865815418205, -0.21499363667686505,
            -0.20107929792993356, 0.012674519603590019, 0.162420844385619
        ],
        'd/drow_var': [
            -0.5625291607999725, 0.00930859175380748, -0.5402890431450598
        ],
    },
    'gaussian_nll_loss[clamped var,sum]': {
        'value': 221.76791559855195,
        'd/dx': [
            -2.7631829820086553, 0.6233610943480099, 137.18058856825587, -0.17381689504754805,
            -0.8982238258272557, 151.91384324758414, 3.093307830216846, -0.06445492652334564,
            -3.0959083681468567, -2.8955418901910432, 18.251308229169627, 2.598733510169904
        ],
        'd/dvar': [
            -2.817590096031122, 0.05571047302662574, -9359.256939966544, 0.48489384349801484,
            1.2632636460247906, -11488.907885125784, -4.069990951954712, 0.16458944789010171,
            -4.292324311980867, -3.69208141892556, -116.55512603807747, -2.8211523728844394
        ],
    },
}
# fmt: on


def _name(case):
    return case.split("[")[0]


def test_recorded_cases_are_the_ported_cases():
    assert set(RECORDED) == set(jax_calls())


def test_every_torch_named_export_is_recorded():
    """An export that torch.nn.functional also has must agree with torch here."""
    exported = set(jaxloss.__all__) & set(TORCH_F_LOSSES)
    recorded = {_name(case) for case in RECORDED}
    missing = exported - recorded
    assert not missing, f"exported under a PyTorch name without recorded torch values: {missing}"
    assert recorded <= set(jaxloss.__all__), recorded - set(jaxloss.__all__)
    assert {"binary_cross_entropy", "binary_cross_entropy_with_logits"} <= exported


@pytest.mark.parametrize("case", sorted(RECORDED))
def test_agrees_with_torch(case):
    call, wrt = jax_calls()[case]
    want = RECORDED[case]
    with jax.enable_x64(True):
        args = {k: jnp.asarray(v) for k, v in INPUTS.items()}

        def f(*diff):
            return call({**args, **dict(zip(wrt, diff, strict=True))})

        value = f(*(args[k] for k in wrt))
        grads = jax.grad(lambda *d: jnp.sum(f(*d)), argnums=tuple(range(len(wrt))))(
            *(args[k] for k in wrt))
    assert value.dtype == jnp.float64
    np.testing.assert_allclose(np.reshape(value, -1) if value.ndim else value, want["value"],
                               rtol=1e-10, atol=1e-12, err_msg=f"{case} value")
    assert set(want) == {"value"} | {f"d/d{k}" for k in wrt}
    for k, g in zip(wrt, grads, strict=True):
        np.testing.assert_allclose(np.reshape(g, -1), want[f"d/d{k}"], rtol=1e-10, atol=1e-12,
                                   err_msg=f"{case} d/d{k}")
