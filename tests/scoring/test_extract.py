"""Every answer format the Appendix C.2 prompts ask for, and every known extractor trap."""

from __future__ import annotations

import pytest

from videokr.scoring.extract import LETTERS, extract, extract_choice, extract_text, option_texts

FOUR = ["a piston", "a crankshaft", "a valve", "a spark plug"]
COFFEE = ["diversification", "vertical integration", "horizontal integration", "outsourcing", "speculation"]


@pytest.mark.parametrize(
    ("output", "expected", "source"),
    [
        ("<think>reasoning</think><answer>B</answer>", "B", "answer_tag"),
        ("<think>r</think>\n<answer> (C) </answer>", "C", "answer_tag"),
        ("<think>r</think><answer>B. vertical integration</answer>", "B", "answer_tag"),
        ("<think>r</think><answer>vertical integration</answer>", "B", "answer_tag"),
        ("<think>r</think><answer>The answer is D</answer>", "D", "answer_tag"),
        ("So the choice is clear. \\boxed{C}", "C", "boxed"),
        ("$\\boxed{\\text{E}}$", "E", "boxed"),
        ("\\boxed{(A)}", "A", "boxed"),
        ("Step by step... Therefore, the final answer is: D", "D", "statement"),
        ("Step by step... Therefore, the final answer is: $D$", "D", "statement"),
        ("Therefore, the final answer is: $\\boxed{B}$", "B", "boxed"),
        ("Therefore, the final answer is:\n\n**A**", "A", "statement"),
        ("The best answer is: A", "A", "statement"),
        ("The best answer is (E).", "E", "statement"),
        ("The correct answer is C because the valve opens.", "C", "statement"),
        ("Answer: J", "J", "statement"),
        ("answer: b", "B", "statement"),
        ("Final: D.", "D", "statement"),
        ("Option B is correct.", "B", "statement"),
        ("B", "B", "bare"),
        ("  (B)  ", "B", "bare"),
        ("B.", "B", "bare"),
        ("B)", "B", "bare"),
        ("[B]", "B", "bare"),
        ("B. vertical integration", "B", "bare"),
        ("(B) vertical integration", "B", "bare"),
        ("B vertical integration", "B", "bare"),
        ("vertical integration", "B", "bare"),
        ("Vertical Integration.", "B", "bare"),
        ("The coffee brand owns plantations.\nB", "B", "last_line"),
    ],
)
def test_each_format(output: str, expected: str, source: str) -> None:
    result = extract(output, COFFEE + ["f", "g", "h", "i", "j"])
    assert result.choice == expected
    assert result.source == source


@pytest.mark.parametrize("n", range(2, 11))
def test_every_option_count(n: int) -> None:
    options = [f"option text {i}" for i in range(n)]
    for i, letter in enumerate(LETTERS[:n]):
        assert extract_choice(f"<answer>{letter}</answer>", options) == letter
        assert extract_choice(f"Therefore, the final answer is: {letter}", options) == letter
        assert extract_choice(f"option text {i}", options) == letter
    beyond = LETTERS[n] if n < len(LETTERS) else None
    if beyond:
        assert extract_choice(f"<answer>{beyond}</answer>", options) is None  # not offered


# --- traps --------------------------------------------------------------------------------


def test_article_a_is_not_option_a() -> None:
    # lmms-eval's MMVU scorer reads the article as option A and scores this correct for gold A
    out = "The part moving up and down is a piston, which drives the crankshaft. So the answer is: C"
    assert extract_choice(out, FOUR) == "C"


def test_sentence_initial_a_is_not_option_a() -> None:
    # lmms-eval's VideoMMMU extractor reads this as A
    assert extract_choice("A man walks in. The answer is C", FOUR) == "C"


def test_pronoun_i_is_not_option_i() -> None:
    # the official release's extractor reads this as option I
    ten = [f"t{i}" for i in range(10)]
    assert extract_choice("I cannot determine the answer", ten) is None
    assert extract_choice("<answer>I cannot determine the answer</answer>", ten) is None
    assert extract_choice("I think it is hard to say.", ten) is None


def test_letters_in_reasoning_do_not_count() -> None:
    out = "Option A is tempting and B is possible, but D is wrong. Hmm. The answer is C."
    assert extract_choice(out, FOUR) == "C"
    assert extract_choice("A and B both look plausible; C is unclear.", FOUR) is None


def test_final_statement_wins() -> None:
    out = "At first the answer is B. Wait, re-reading the frames, the final answer is: D"
    assert extract_choice(out, FOUR) == "D"


def test_last_answer_block_wins_over_first() -> None:
    out = "<think>I might write <answer>A</answer> but no.</think><answer>C</answer>"
    assert extract_choice(out, FOUR) == "C"


def test_reasoning_inside_think_is_not_the_answer() -> None:
    assert extract_choice("<think>The answer is B.</think>", FOUR) is None
    assert extract_choice("<think>The answer is B.</think>\nC", FOUR) == "C"


def test_no_answer_is_none() -> None:
    assert extract_choice("", FOUR) is None
    assert extract_choice(None, FOUR) is None
    assert extract_choice("The video shows a car engine running.", FOUR) is None
    assert extract_choice("<think>hmm</think><answer></answer>", FOUR) is None


def test_lone_lowercase_article_is_not_an_answer() -> None:
    assert extract_choice("a", FOUR) is None
    assert extract_choice("Answer: a", FOUR) == "A"  # stated as the answer, it is the letter


def test_two_letters_are_not_one_answer() -> None:
    assert extract_choice("The answer is B and C", FOUR) is None
    assert extract_choice("<answer>B, C</answer>", FOUR) is None


def test_answer_beyond_offered_options_is_invalid_not_an_earlier_guess() -> None:
    assert extract_choice("The answer is B. No wait, the answer is F.", FOUR) is None


def test_ambiguous_option_text_is_none() -> None:
    out = "The answer is either outsourcing or vertical integration."
    assert extract_choice(out, COFFEE) is None


def test_option_text_longest_wins_over_its_part() -> None:
    opts = ["integration", "vertical integration", "speculation"]
    assert extract_choice("The answer is vertical integration.", opts) == "B"


def test_truncated_answer_tag_still_read() -> None:
    assert extract_choice("<think>long</think><answer>B", FOUR) == "B"


def test_clause_after_letter_a() -> None:
    assert extract_choice("The answer is A because the piston moves.", FOUR) == "A"
    assert extract_choice("The answer is A man in the frame.", FOUR) is None


def test_option_formats_accepted() -> None:
    assert option_texts(["A. x", "B. y"]) == ["x", "y"]
    assert option_texts({"B": "y", "A": "x"}) == ["x", "y"]
    assert option_texts(["x", "y"]) == ["x", "y"]
    assert option_texts(["(A) x", "(B) y"]) == ["x", "y"]


def test_open_ended_text() -> None:
    assert extract_text("<think>r</think><answer> 42 m/s </answer>") == "42 m/s"
    assert extract_text("Step… Therefore, the final answer is: mitochondria") == "mitochondria"
    assert extract_text("\\boxed{3.5}") == "3.5"
    assert extract_text("mitochondria") == "mitochondria"
    assert extract_text("<think>only thinking</think>") is None
    assert extract_text("") is None


# --- Appendix D.3 case studies (Figures 9–11): every model output, with the gold answer ------

FIG9_OPTIONS = COFFEE
FIG9_GOLD = "B"
FIG9 = {
    "Qwen3-VL-8B-Thinking": (
        "<think> The video showcases a supply chain process: procurement, manufacturing, distribution, and "
        "trading. Among the various options, there is no indication of diversification or speculation; nor is "
        "there any vertical or horizontal integration. Phased handover and third-party transportation imply "
        "outsourcing some processes to mitigate non-core risks. Therefore, option D (outsourcing) is the most "
        "suitable. </think><answer>D</answer>",
        "D",
    ),
    "OneThinker": (
        "<think> Video context: a supply-chain flowchart (sourcing → manufacturing → distribution → "
        "transactional management) indicates production and logistics stages. Option check: A) "
        "Diversification—portfolio risk spreading; not depicted. B) Vertical integration—end-to-end control; "
        "no evidence. C) Horizontal integration—mergers; absent. D) Outsourcing—contracting external "
        "suppliers; truck/boxed goods suggest third-party handling, letting the firm focus on core tasks. E) "
        "Speculation—risky bets; irrelevant here. Thus, the risk-handling method most consistent with the "
        "video is outsourcing. Final: D. </think><answer>D</answer>",
        "D",
    ),
    "VideoKR": (
        "<think> The video depicts a truck departing from a coffee plantation adorned with coffee bean icons "
        "and the Folgers logo, heading towards a roasting/processing plant, and then to a retail store. The "
        "process traces the supply chain from SOURCING → MANUFACTURING → DISTRIBUTION. This highlights "
        "exposure to upstream green-coffee price and supply volatility. A fitting mitigation is vertical "
        "integration —the brand establishes/owns plantations to secure supply, stabilize input costs, and "
        "tighten quality control. Therefore, the answer is B, vertical integration. </think><answer>B</answer>",
        "B",
    ),
}

FIG10_OPTIONS = [
    "Enhancing ultrasonication effects for smaller droplet size",
    "Increasing the solvent concentration for better dispersion",
    "Mixing to evenly distribute quantum dots in solution",
    "Preventing sedimentation of formed nanobeads",
    "Cooling the solution to induce polymer crystallization",
    "Breaking the emulsion into larger droplets",
    "Promoting chemical reaction between polymer and quantum dots",
    "Reducing temperature fluctuations during particle formation",
    "Removing excess water to concentrate the emulsion",
    "Complete evaporation of solvent leading to solidification",
]
FIG10_GOLD = "J"
FIG10 = {
    "Qwen3-VL-8B-Thinking": (
        "<think> At 02:31 in the video, the procedure introduces an overnight magnetic stirring step during the "
        "preparation of QD-nanobead LFIA. In fact, prolonged gentle stirring helps homogenization, and more "
        "importantly, it keeps the particles suspended, preventing precipitation. The following options were "
        "evaluated: A (enhanced sonication), B (increased solvent concentration), E (cooling/crystallization), "
        "F (increased droplet size), G (promoted reaction), H (temperature control), and I/J "
        "(concentration/evaporation). None of these align with the typical purpose of stirring. C (uniform "
        "distribution of QD), while feasible, is less important than maintaining suspension —the core "
        "objective. Therefore, the primary purpose of this step is D: preventing the precipitation of the "
        "formed nanobeads. </think><answer>D</answer>",
        "D",
    ),
    "OneThinker": (
        "<think> The video demonstrates an overnight magnetic stirring step. In laboratory practice, prolonged "
        "gentle stirring is used to maintain the homogeneity of the dispersion, prevent "
        "precipitation/aggregation, and improve mass transfer, thereby ensuring a uniform distribution of the "
        "suspension (in this case, quantum dots) in the next step. It is not used to change solvent "
        "concentration (B), cool (E), control temperature (H), concentrate/evaporate (I, J), or increase "
        "droplet size (F). Enhanced sonication (A) is also not applicable—stirring is a low-shear process, "
        "typically performed **after** sonication, and its role is to maintain droplet integrity, not to "
        "further break down the droplets. Preventing precipitation (D) and any accidental interactions (G) "
        "may occur, but they are secondary. Therefore, the purpose is to mix to ensure a uniform distribution "
        "of the quantum dots in the solution—option C. </think><answer>C</answer>",
        "C",
    ),
    "VideoKR": (
        "<think> The video at 02:31 demonstrates the overnight magnetic stirring step in the nanobead "
        "preparation process. Overnight magnetic stirring is a routine homogenization step in the quantum "
        "dot-nanobead preparation process, and is therefore likely for maintaining uniform dispersion (C) and "
        "inhibiting precipitation (D). Comparing other options, many (B, E, F, H, I) do not conform to the "
        "typical function of stirring; D seems best suited for the overnight step. Wait—rewatching the "
        "segment around 02:23, we can see ultrasonic treatment forming an emulsion in a volatile solvent "
        "(chloroform), followed by footage of dried, solid nanobeads. During the emulsion-solvent evaporation "
        "process, the prolonged gentle stirring primarily serves to renew the solvent-air interface between "
        "droplets, thereby promoting complete solvent evaporation, allowing the polymer + quantum dots to "
        "precipitate and harden. Therefore, preventing precipitation is secondary; the primary goal is "
        "complete evaporation, ultimately leading to solidification—J. </think><answer>J</answer>",
        "J",
    ),
}

FIG11_OPTIONS = [
    "Bone cyst", "Acute hip fracture", "Osteoarthritis", "Surgical hardware", "Resection of the pubic symphysis",
    "Bone tumor", "Hip dislocation", "Osteoporosis", "Paget's disease", "Bone infection",
]
FIG11_GOLD = "E"
FIG11 = {
    "Qwen3-VL-8B-Thinking": (
        "<think> The video shows a diffuse radiolucent area in the pelvis, accompanied by widespread cortical "
        "thinning and loss of normal trabecular detail. The hip joint is symmetrical, without displacement, "
        "and no focal osteolytic or sclerotic lesions, fracture lines, periosteal reaction, or metallic "
        "density shadows are observed. The joint space is intact, with no osteophyte formation, suggesting "
        "the absence of osteoarthritis, and lacks the typical features of Paget's disease (bone expansion, "
        "cortical thickening) or infection (invasive destruction, soft tissue swelling). The lesion is diffuse "
        "rather than focal, therefore osteoporosis is the most plausible explanation. </think><answer>H</answer>",
        "H",
    ),
    "OneThinker": (
        "<think> Based on the pelvis plain film and the listed options, the abnormality most plausibly "
        "involves the hip joint. Typical signs of a bone cyst, tumor, osteoporosis, Paget's disease, "
        "osteoarthritis, pubic symphysis resection, hip dislocation, or bone infection are not clearly "
        "demonstrated, and an acute hip fracture is not convincingly visible. With the absence of definitive "
        "features for these alternatives, the most specific and common explanation in this context is a "
        "hip-related abnormality consistent with surgical hardware. Therefore, the best answer is D. Surgical "
        "hardware. </think><answer>D</answer>",
        "D",
    ),
    "VideoKR": (
        "<think> The video shows significant destruction at the pubic symphysis, with a marked gap or "
        "separation, which is uncommon in a normal pelvis. Therefore, there is a significant abnormality in "
        "the pubic symphysis region. The interpubic cortical space is smooth, and the surrounding bone "
        "structure appears intact, but this is consistent with previous surgical resection rather than acute "
        "trauma. The hip joint is well-aligned, without displacement or dislocation; no cortical fracture or "
        "trabecular bone destruction is observed, nor is there an acute hip fracture; no focal "
        "osteolytic/sclerotic lesions, bone cysts, tumors, Paget's disease, or infection are seen. Diffuse "
        "demineralization suggests osteoporosis, but is insufficient for a definitive diagnosis; typical "
        "features of osteoarthritis such as joint space narrowing or osteophyte formation are also absent. No "
        "metallic feel or surgical implants are observed. Therefore, the pathological findings are most "
        "consistent with a diagnosis following pubic symphysis resection. </think><answer>E</answer>",
        "E",
    ),
}

CASES = [
    (fig, model, out, want, options, gold)
    for fig, (table, options, gold) in {
        "fig9": (FIG9, FIG9_OPTIONS, FIG9_GOLD),
        "fig10": (FIG10, FIG10_OPTIONS, FIG10_GOLD),
        "fig11": (FIG11, FIG11_OPTIONS, FIG11_GOLD),
    }.items()
    for model, (out, want) in table.items()
]


@pytest.mark.parametrize(("fig", "model", "output", "want", "options", "gold"), CASES)
def test_case_studies(fig: str, model: str, output: str, want: str, options: list[str], gold: str) -> None:
    assert extract_choice(output, options) == want
    assert (want == gold) == (model == "VideoKR")  # the paper: only the VideoKR model is right


@pytest.mark.parametrize(("fig", "model", "output", "want", "options", "gold"), CASES)
def test_case_studies_without_tags(fig: str, model: str, output: str, want: str, options: list[str], gold: str) -> None:
    """The same reasoning with the answer tag removed: the closing statement decides, or nothing does."""
    reasoning = output.split("</think>")[0].replace("<think>", "")
    got = extract_choice(reasoning, options)
    assert got in (want, None)


def test_docstring_examples() -> None:
    import doctest

    import videokr.scoring.extract as module

    assert doctest.testmod(module).failed == 0
