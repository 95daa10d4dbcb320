"""Issue 22 figures: the class similarity report and the kit-weights threshold.

    python benchmarks/bench_similarity.py            # both parts
    python benchmarks/bench_similarity.py --code     # similarity: precision / recall, time for 100
    python benchmarks/bench_similarity.py --weights  # distances that calibrate KIT_WEIGHTS_THRESHOLD
    python benchmarks/bench_similarity.py --quick    # a smoke run (10-step trainings)

Code part: the synthetic PyTorch-lab class of ``tests/similarity_class.py`` (demo students,
four honest students written independently, four disguised copies of one of them); precision
and recall of the flagged pairs at the threshold, the margin between the lowest copy pair and
the highest other pair, and the seconds for 100 and 300 submissions (copies of the class, renamed).

Weights part: the median relative distance per tensor (what
:func:`ganlab_kit.grading.provenance.shipped_weights_match` measures) from the kit's shipped MLP
generator to: a float32 copy, a float16 round trip, noise of 1 / 5 / 10 % of each tensor's
spread, fine-tunes of it on MNIST at the lab's settings (Adam 1e-3 / 2e-4, betas 0.5), and
generators trained independently from fresh initialisations for the same number of steps, and
two 300-step trainings from one initialisation on different batches (the closest an honest
student comes).
Run it under the heavy lock on a shared machine: ``flock /tmp/ganlab-heavy.lock python ...``.
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))


def code_part(sizes=(100, 300)) -> None:
    from ganlab_kit.grading.similarity import THRESHOLD, compare_class
    from similarity_class import scaled_class, synthetic_class

    students, copies, given = synthetic_class()
    report = compare_class(students, given)
    flagged = {frozenset((p.first, p.second)) for p in report.flagged()}
    true_positive = len(flagged & copies)
    precision = true_positive / len(flagged) if flagged else 1.0
    recall = true_positive / len(copies)
    copy_scores = [p.similarity for p in report.pairs if frozenset((p.first, p.second)) in copies]
    other_scores = [p.similarity for p in report.pairs if frozenset((p.first, p.second)) not in copies]
    print(f"synthetic class: {len(students)} students, {len(report.pairs)} pairs, {len(copies)} copy pairs")
    print(f"threshold {THRESHOLD}: precision {precision:.2f}, recall {recall:.2f}")
    print(f"copy pairs: min {min(copy_scores):.2f}, median {statistics.median(copy_scores):.2f}; "
          f"other pairs: max {max(other_scores):.2f}, median {statistics.median(other_scores):.2f}")
    for name in ("copy_renamed", "copy_reordered", "copy_recommented", "copy_all_three"):
        pair = next(p for p in report.pairs if {p.first, p.second} == {"honest_1", name})
        rank = report.pairs.index(pair) + 1
        print(f"  honest_1 ~ {name}: {pair.similarity:.2f} (rank {rank} of {len(report.pairs)})")
    for size in sizes:
        grown, given = scaled_class(size)
        started = time.perf_counter()
        compare_class(grown, given)
        print(f"{size} submissions ({size * (size - 1) // 2} pairs), compared: "
              f"{time.perf_counter() - started:.1f} s")
    course_part(100)


def course_part(size) -> None:
    """``ganlab similarity`` end to end on a course folder of ``size`` notebooks (reading them,
    the page and the CSV included)."""
    import tempfile

    import nbformat

    from ganlab_kit.grading.notebook import student_copy
    from ganlab_kit.grading.similarity import similarity_for_course
    from similarity_class import release_and_source, scaled_class

    release, source = release_and_source()
    grown, _ = scaled_class(size)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "release" / "pytorch_gan").mkdir(parents=True)
        nbformat.write(release, root / "release" / "pytorch_gan" / "pytorch_gan.ipynb")
        for student in grown:
            target = root / "submitted" / student.name / "pytorch_gan"
            target.mkdir(parents=True)
            nbformat.write(student_copy(release, source, student.cells), target / "pytorch_gan.ipynb")
        started = time.perf_counter()
        report = similarity_for_course(root, "pytorch_gan", log=lambda message: None)
        print(f"`ganlab similarity` on a course of {size} notebooks (read, compared, page and CSV "
              f"written): {time.perf_counter() - started:.1f} s, {len(report.flagged())} pairs flagged")


def _train(generator, steps, seed, images):
    import torch

    from ganlab_kit.torch_gan import MLPDiscriminator, sample_noise
    from ganlab_kit.torch_gan.losses import discriminator_loss, generator_loss

    torch.manual_seed(seed)
    discriminator = MLPDiscriminator()
    g_opt = torch.optim.Adam(generator.parameters(), lr=1e-3, betas=(0.5, 0.999))
    d_opt = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    for _ in range(steps):
        real = images[torch.randint(0, len(images), (64,))]
        fake = generator(sample_noise(64))
        d_opt.zero_grad()
        discriminator_loss(discriminator(real), discriminator(fake.detach())).backward()
        d_opt.step()
        g_opt.zero_grad()
        generator_loss(discriminator(generator(sample_noise(64)))).backward()
        g_opt.step()
    return generator


def weights_part(steps) -> None:
    import torch

    from ganlab_kit.data import load_mnist
    from ganlab_kit.grading.provenance import (_ASSETS, KIT_WEIGHTS_THRESHOLD, _arrays_of,
                                               weights_distance)
    from ganlab_kit.grading.safe_load import load_by_order, load_tensors
    from ganlab_kit.torch_gan import MLPGenerator

    torch.set_num_threads(1)
    shipped_state = load_tensors(_ASSETS / "reference_mlp_generator.pt")
    shipped = _arrays_of(shipped_state)
    images = load_mnist().images  # (N, 1, 28, 28) in [-1, 1]

    def distance(state):
        return weights_distance(_arrays_of(state), shipped)

    rows = [("float32 copy", distance({k: v.float() for k, v in shipped_state.items()})),
            ("float16 round trip", distance({k: v.half().float() for k, v in shipped_state.items()}))]
    generator = torch.Generator().manual_seed(0)
    for share in (0.01, 0.05, 0.10):
        noisy = {k: v + share * v.float().std() * torch.randn(v.shape, generator=generator)
                 if v.is_floating_point() and v.numel() > 1 else v for k, v in shipped_state.items()}
        rows.append((f"noise {share:.0%} of each tensor's spread", distance(noisy)))
    for count in steps:
        started = time.perf_counter()
        tuned = load_by_order(MLPGenerator(), {k: v.float() for k, v in shipped_state.items()})
        rows.append((f"fine-tune {count} steps", distance(_train(tuned, count, 1, images).state_dict())))
        print(f"  (fine-tune {count} steps: {time.perf_counter() - started:.0f} s)", flush=True)
    independent = []
    for seed in (11, 12):
        torch.manual_seed(seed)
        trained = _train(MLPGenerator(), max(steps), seed, images)
        independent.append(trained)
        rows.append((f"independent, seed {seed}, {max(steps)} steps", distance(trained.state_dict())))
    rows.append(("the two independent ones, to each other",
                 weights_distance(_arrays_of(independent[0]), _arrays_of(independent[1]))))
    torch.manual_seed(0)
    start = MLPGenerator().state_dict()
    twins = []
    for seed in (21, 22):  # the closest an honest student comes: the same initialisation
        twin = MLPGenerator()
        twin.load_state_dict(start)
        twins.append(_train(twin, min(300, max(steps)), seed, images))
    rows.append((f"same initialisation, other batches, {min(300, max(steps))} steps, to each other",
                 weights_distance(_arrays_of(twins[0]), _arrays_of(twins[1]))))
    print(f"median relative distance to reference_mlp_generator.pt (threshold {KIT_WEIGHTS_THRESHOLD}):")
    for label, value in rows:
        verdict = ("" if "to each other" in label  # a pair of students, not a match against the kit
                   else "KIT" if value <= KIT_WEIGHTS_THRESHOLD else "own")
        print(f"  {label:62s} {value:.4f}  {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--code", action="store_true")
    parser.add_argument("--weights", action="store_true")
    parser.add_argument("--steps", default="100,400", help="fine-tune lengths (comma-separated)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 10-step trainings")
    args = parser.parse_args()
    if args.quick:
        args.steps = "10"
    both = not (args.code or args.weights)
    if args.code or both:
        code_part((100,) if args.quick else (100, 300))
    if args.weights or both:
        weights_part([int(n) for n in args.steps.split(",")])


if __name__ == "__main__":
    main()
