using Diffusion.Runtime;

namespace Diffusion.Train.Config;

/// <summary>Which objective a distillation run trains (issue 18; <see cref="Training.GuidanceDistillation"/>).</summary>
public enum DistillStage
{
    /// <summary>Stage one: a guidance-conditioned student learns its teacher's guided output in one pass (Meng et al. 2023).</summary>
    Guidance,
    /// <summary>Stage two: an N-step student learns two DDIM steps of its 2N-step teacher in one (Salimans &amp; Ho 2022).</summary>
    Halving,
}

/// <summary>
/// The <c>distill</c> section of a training config: present only in distillation runs, which train a
/// guidance-conditioned student (<c>model.guidance_embedding</c>) against a teacher checkpoint's EMA weights.
/// </summary>
public sealed record DistillConfig
{
    /// <summary>The teacher checkpoint: a trained model (stage one) or the previous stage's student (halving).</summary>
    public string Teacher { get; init; } = "";
    /// <summary>The objective.</summary>
    public DistillStage Stage { get; init; }
    /// <summary>Halving: the student's step count N (the teacher takes 2N); guidance stage: 0.</summary>
    public int StudentSteps { get; init; }
    /// <summary>
    /// SHA-256 of the model the chain distils (its checkpoint file, or the float32 unet.onnx of a model folder): the
    /// exported student's <c>distilled_from</c>, checked against the teacher graphs it is exported beside.
    /// </summary>
    public string OriginSha256 { get; init; } = "";
    /// <summary>Smallest guidance scale drawn (diffusers convention).</summary>
    public double MinScale { get; init; } = 1.0;
    /// <summary>Largest guidance scale drawn.</summary>
    public double MaxScale { get; init; } = 6.0;

    /// <summary>Parses "guidance" or "halving".</summary>
    /// <exception cref="InvalidInputException">Any other value.</exception>
    public static DistillStage ParseStage(string value) => value?.Trim().ToLowerInvariant() switch
    {
        "guidance" => DistillStage.Guidance,
        "halving" => DistillStage.Halving,
        _ => throw new InvalidInputException($"Unknown distill stage '{value}'; expected guidance or halving."),
    };

    /// <summary>The config name of a stage.</summary>
    public static string StageName(DistillStage stage) => stage == DistillStage.Guidance ? "guidance" : "halving";
}
