using Diffusion.Runtime;
using Diffusion.Runtime.Samplers;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Train.Training;

/// <summary>
/// A model that takes the guidance scale as an input: x_t [N, C, H, W], t [N] int64, y [N] int64, scale [N] float
/// (diffusers convention, 1 = conditional) to its prediction [N, C, H, W] (epsilon, x0 or v).
/// </summary>
public delegate Tensor GuidedPrediction(Tensor x, Tensor t, Tensor y, Tensor scale);

/// <summary>
/// The objectives of guidance distillation (issue 18), in TorchSharp, every coefficient read from the runtime's
/// <see cref="NoiseSchedule"/> (double) into per-timestep tensors once:
/// <list type="bullet">
/// <item>stage one (Meng et al. 2023, "On Distillation of Guided Diffusion Models", sec. 3.1): a student that takes
/// the scale s as an input learns the teacher's guided output uncond + s (cond - uncond) at t ~ U{0..T-1},
/// s ~ U[<see cref="MinScale"/>, <see cref="MaxScale"/>];</item>
/// <item>stage two (Salimans &amp; Ho 2022, "Progressive Distillation", Alg. 2; Meng et al. sec. 3.2): a student of N
/// steps learns to land with one deterministic DDIM step where its teacher lands with two.</item>
/// </list>
/// Timesteps are the runtime's trailing layout (<see cref="TimestepSchedule"/>), which the runtime's DDIM samples the
/// student with; a halving is possible only where the teacher's 2N-step grid contains the student's N-step grid.
/// Teacher and student may predict different targets: an epsilon model's x0 = (z - sigma eps) / alpha is useless where
/// alpha is tiny (1 / alpha = 20,000 at t = 999 of the cosine schedule), which is where a few-step student starts, so
/// students predict v by default (Salimans &amp; Ho, sec. 4). A teacher's output is read as the runtime's DDIM reads it:
/// x0 clipped to [-1, 1] and eps re-derived from it (SamplerOptions.ClipSample), then written in the student's target.
/// </summary>
public sealed class GuidanceDistillation : IDisposable
{
    // x0 clipping bounds, process lifetime: TorchSharp can finalize an implicit Scalar during its native call (Optim/AdamW.cs)
    private static readonly Scalar MinusOne = (-1).ToScalar(), One = 1.ToScalar();
    private readonly Tensor _alpha, _sigma;                   // [T + 1] float32; index T: after the last step (alpha_bar = 1)
    private readonly Tensor _teacherX0A, _teacherX0B, _studentX0A, _studentX0B, _targetA, _targetB; // [T] float32
    private readonly Dictionary<int, (Tensor Student, Tensor Mid)> _grids = [];           // per student step count, int64

    /// <summary>Creates the objectives.</summary>
    /// <param name="schedule">The teacher's noise schedule.</param>
    /// <param name="teacherPrediction">What the teacher predicts.</param>
    /// <param name="prediction">What the student predicts.</param>
    /// <param name="minScale">Smallest guidance scale drawn.</param>
    /// <param name="maxScale">Largest guidance scale drawn.</param>
    /// <param name="device">Device of the coefficient tensors.</param>
    /// <exception cref="InvalidInputException">A scale range that is empty, negative or not finite.</exception>
    public GuidanceDistillation(NoiseSchedule schedule, PredictionType teacherPrediction, PredictionType prediction, double minScale, double maxScale, Device device)
    {
        if (!(minScale >= 0) || !(maxScale >= minScale) || !double.IsFinite(maxScale))
            throw new InvalidInputException($"Guidance scale range [{minScale}, {maxScale}]; expected 0 <= min <= max, finite.");
        Schedule = schedule; TeacherPrediction = teacherPrediction; Prediction = prediction; MinScale = minScale; MaxScale = maxScale;
        int n = schedule.T;
        var alpha = new float[n + 1]; var sigma = new float[n + 1];
        var tables = new float[6][];
        for (int k = 0; k < 6; k++) tables[k] = new float[n];
        for (int t = 0; t <= n; t++)
        {
            double ab = t < n ? schedule.AlphasCumprod[t] : 1.0;
            alpha[t] = (float)Math.Sqrt(ab); sigma[t] = (float)Math.Sqrt(1 - ab);
            if (t == n) break;
            var (ct, cs, tg) = (Runtime.Prediction.ToX0(teacherPrediction, ab), Runtime.Prediction.ToX0(prediction, ab), Runtime.Prediction.Target(prediction, ab));
            (tables[0][t], tables[1][t], tables[2][t], tables[3][t], tables[4][t], tables[5][t]) = ((float)ct.A, (float)ct.B, (float)cs.A, (float)cs.B, (float)tg.A, (float)tg.B);
        }
        _alpha = tensor(alpha, device: device); _sigma = tensor(sigma, device: device);
        (_teacherX0A, _teacherX0B, _studentX0A, _studentX0B, _targetA, _targetB) = (tensor(tables[0], device: device), tensor(tables[1], device: device),
            tensor(tables[2], device: device), tensor(tables[3], device: device), tensor(tables[4], device: device), tensor(tables[5], device: device));
    }

    /// <summary>The teacher's schedule.</summary>
    public NoiseSchedule Schedule { get; }
    /// <summary>What the teacher predicts.</summary>
    public PredictionType TeacherPrediction { get; }
    /// <summary>What the student predicts.</summary>
    public PredictionType Prediction { get; }
    /// <summary>Smallest guidance scale drawn.</summary>
    public double MinScale { get; }
    /// <summary>Largest guidance scale drawn.</summary>
    public double MaxScale { get; }

    /// <summary>
    /// A plain class-conditional model's guided output as one call on the doubled batch: [x; x], [t; t], [y; null]
    /// give cond and uncond, then uncond + scale (cond - uncond) (<see cref="Guidance.Combine"/>'s convention).
    /// </summary>
    /// <param name="model">The conditional model (x, t, y) to prediction.</param>
    /// <param name="nullClass">The null label (= number of classes).</param>
    public static GuidedPrediction Guided(Func<Tensor, Tensor, Tensor, Tensor> model, int nullClass) => (x, t, y, scale) =>
    {
        using var scope = NewDisposeScope();
        var both = model(cat([x, x]), cat([t, t]), cat([y, full_like(y, nullClass)]));
        var halves = both.chunk(2);
        var (cond, uncond) = (halves[0], halves[1]);
        return (uncond + scale.view(-1, 1, 1, 1) * (cond - uncond)).MoveToOuterDisposeScope();
    };

    /// <summary>
    /// Stage one: MSE between the student's output and the teacher's guided output (computed without gradients, read
    /// through <see cref="TeacherX0"/> and written in the student's target) on a batch x0 [N, C, H, W] in [-1, 1] with
    /// labels y [N]. Draws t, eps and s from the global torch generator, in that order.
    /// </summary>
    public Tensor GuidanceLoss(GuidedPrediction student, GuidedPrediction teacher, Tensor x0, Tensor y)
    {
        long n = x0.shape[0];
        var t = randint(0, Schedule.T, [n], dtype: int64, device: x0.device);
        var eps = randn_like(x0);
        var scale = DrawScales(n, x0.device);
        var xt = Gather(_alpha, t) * x0 + Gather(_sigma, t) * eps;
        Tensor target;
        using (no_grad())
        {
            var (tx0, teps) = TeacherX0(teacher(xt, t, y, scale), t, xt);
            target = Gather(_targetA, t) * tx0 + Gather(_targetB, t) * teps;
        }
        return nn.functional.mse_loss(student(xt, t, y, scale), target);
    }

    /// <summary>Guidance scales [n] drawn uniformly from [<see cref="MinScale"/>, <see cref="MaxScale"/>].</summary>
    public Tensor DrawScales(long n, Device device) => rand(n, device: device) * (MaxScale - MinScale) + MinScale;

    /// <summary>
    /// The timesteps of an N-step student and of its 2N-step teacher, both the runtime's trailing layout, descending.
    /// </summary>
    /// <exception cref="InvalidInputException">The teacher's grid does not contain the student's (every other entry).</exception>
    public (int[] Student, int[] Teacher) Timesteps(int studentSteps)
    {
        if (studentSteps < 1 || 2 * studentSteps > Schedule.T)
            throw new InvalidInputException($"Student steps = {studentSteps}; expected 1 to T / 2 = {Schedule.T / 2}.");
        var student = TimestepSchedule.Create(Schedule.T, studentSteps, TimestepSpacing.Trailing);
        var teacher = TimestepSchedule.Create(Schedule.T, 2 * studentSteps, TimestepSpacing.Trailing);
        for (int i = 0; i < student.Length; i++)
            if (teacher[2 * i] != student[i])
                throw new InvalidInputException($"Student steps = {studentSteps}: its timestep {student[i]} is not on the {2 * studentSteps}-step teacher's grid (T = {Schedule.T}); use a step count that halves evenly, such as a power of two.");
        return (student, teacher);
    }

    /// <summary>
    /// A teacher's output at (z, t) as the runtime's DDIM reads it: (1) x0 = A_t z + B_t output
    /// (<see cref="Runtime.Prediction.ToX0"/>), clipped to [-1, 1]; (2) eps = (z - alpha_t x0) / sigma_t.
    /// </summary>
    /// <returns>(x0, eps), both [N, C, H, W].</returns>
    public (Tensor X0, Tensor Eps) TeacherX0(Tensor output, Tensor t, Tensor z)
    {
        var x0 = (Gather(_teacherX0A, t) * z + Gather(_teacherX0B, t) * output).clamp(MinusOne, One);   // (1)
        return (x0, (z - Gather(_alpha, t) * x0) / Gather(_sigma, t));                            // (2)
    }

    /// <summary>
    /// One deterministic DDIM step of the teacher (Song et al. 2021, eq. 12 with sigma = 0; the runtime's
    /// <see cref="DdimSampler"/> at eta 0 with x0 clipped) per sample: x0 and eps from <see cref="TeacherX0"/>, then
    /// z_prev = alpha_prev x0 + sigma_prev eps.
    /// </summary>
    /// <param name="output">Model output at (z, t), [N, C, H, W].</param>
    /// <param name="t">Timesteps [N] int64.</param>
    /// <param name="tPrev">Next timesteps of the grid [N] int64, -1 after the last step (alpha_bar = 1: z_prev = x0).</param>
    /// <param name="z">Samples z_t [N, C, H, W].</param>
    /// <returns>(z_prev, x0), both [N, C, H, W].</returns>
    public (Tensor ZPrev, Tensor X0) DdimStep(Tensor output, Tensor t, Tensor tPrev, Tensor z)
    {
        var prev = PrevIndex(tPrev);
        var (x0, eps) = TeacherX0(output, t, z);
        return (Gather(_alpha, prev) * x0 + Gather(_sigma, prev) * eps, x0);
    }

    /// <summary>
    /// Stage two's target for a student step from z_t (Salimans &amp; Ho 2022, Alg. 2), without gradients:
    /// (1) two DDIM steps of the teacher: t to t' to t'' (t, t'' consecutive on the student's grid, t' between them on
    ///     the teacher's);
    /// (2) the x0 with which one DDIM step from t lands exactly on z_t'':
    ///     x~ = (z_t'' - (sigma_t'' / sigma_t) z_t) / (alpha_t'' - (sigma_t'' / sigma_t) alpha_t); after the last step
    ///     (sigma = 0, alpha = 1) x~ = z_t''.
    /// </summary>
    /// <param name="teacher">The guided teacher (a stage-one student or the previous halving's student).</param>
    /// <param name="studentSteps">N.</param>
    /// <param name="z">z_t [N, C, H, W].</param>
    /// <param name="stepIndex">Index i into the student's grid per sample [N] int64 (t = grid[i]).</param>
    /// <param name="y">Labels [N].</param>
    /// <param name="scale">Guidance scales [N].</param>
    /// <returns>x~ [N, C, H, W].</returns>
    public Tensor HalvingTarget(GuidedPrediction teacher, int studentSteps, Tensor z, Tensor stepIndex, Tensor y, Tensor scale)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var (t, tMid, tNext) = GridSteps(studentSteps, stepIndex);
        var (zMid, _) = DdimStep(teacher(z, t, y, scale), t, tMid, z);                       // (1)
        var (zNext, _) = DdimStep(teacher(zMid, tMid, y, scale), tMid, tNext, zMid);
        var next = PrevIndex(tNext);
        var ratio = Gather(_sigma, next) / Gather(_sigma, t);                                 // (2)
        return ((zNext - ratio * z) / (Gather(_alpha, next) - ratio * Gather(_alpha, t))).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Stage two's loss on a batch x0 [N, C, H, W] with labels y: i ~ U{0..N-1}, eps, s drawn from the global torch
    /// generator in that order; z_t = alpha_t x0 + sigma_t eps; the student's x0 estimate against
    /// <see cref="HalvingTarget"/> with Salimans &amp; Ho's truncated-SNR weight max(SNR_t, 1) (eq. 9).
    /// </summary>
    public Tensor HalvingLoss(GuidedPrediction student, GuidedPrediction teacher, int studentSteps, Tensor x0, Tensor y)
    {
        long n = x0.shape[0];
        var stepIndex = randint(0, studentSteps, [n], dtype: int64, device: x0.device);
        var eps = randn_like(x0);
        var scale = DrawScales(n, x0.device);
        var (t, _, _) = GridSteps(studentSteps, stepIndex);
        var z = Gather(_alpha, t) * x0 + Gather(_sigma, t) * eps;
        var target = HalvingTarget(teacher, studentSteps, z, stepIndex, y, scale);
        var x0Student = Gather(_studentX0A, t) * z + Gather(_studentX0B, t) * student(z, t, y, scale);
        var snr = (Gather(_alpha, t) / Gather(_sigma, t)).square().view(-1);
        var weight = clamp_min(snr, 1.0);
        return (weight * (x0Student - target).square().mean([1, 2, 3])).mean();
    }

    // t = student grid[i], t' = teacher grid[2i + 1], t'' = student grid[i + 1] or -1 after the last step; the grids
    // are made once per step count (every training step of a halving reads them twice: target and loss)
    private (Tensor T, Tensor TMid, Tensor TNext) GridSteps(int studentSteps, Tensor stepIndex)
    {
        if (!_grids.TryGetValue(studentSteps, out var grid))
        {
            var (student, teacher) = Timesteps(studentSteps);
            var s = tensor(student.Select(v => (long)v).Append(-1L).ToArray(), device: _alpha.device).DetachFromDisposeScope();
            var mid = tensor(Enumerable.Range(0, studentSteps).Select(i => (long)teacher[2 * i + 1]).ToArray(), device: _alpha.device).DetachFromDisposeScope();
            _grids[studentSteps] = grid = (s, mid);
        }
        return (grid.Student.index_select(0, stepIndex), grid.Mid.index_select(0, stepIndex), grid.Student.index_select(0, stepIndex + 1));
    }

    private Tensor PrevIndex(Tensor tPrev) => where(tPrev < 0, full_like(tPrev, Schedule.T), tPrev);

    private static Tensor Gather(Tensor table, Tensor t) => table.index_select(0, t).view(-1, 1, 1, 1);

    /// <inheritdoc/>
    public void Dispose()
    {
        foreach (var t in new[] { _alpha, _sigma, _teacherX0A, _teacherX0B, _studentX0A, _studentX0B, _targetA, _targetB }) t.Dispose();
        foreach (var (student, mid) in _grids.Values) { student.Dispose(); mid.Dispose(); }
    }
}
