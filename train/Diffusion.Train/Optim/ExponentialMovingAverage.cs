using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Train.Optim;

/// <summary>
/// Exponential moving average of a model's parameters kept in a second module of the same architecture
/// (Polyak averaging, as in Ho et al. 2020 / Song &amp; Ermon 2020): ema = d * ema + (1 - d) * param.
/// With warmup, d = min(decay, (1 + n) / (10 + n)) after n updates, so early averages are not dominated by
/// the random initial weights. The EMA module stays in eval mode; it is what sampling and export use.
/// </summary>
public sealed class ExponentialMovingAverage
{
    private readonly (Tensor Ema, Tensor Param)[] _pairs;

    /// <summary>Tracks <paramref name="model"/> in <paramref name="ema"/> (same architecture, already holding the starting weights).</summary>
    public ExponentialMovingAverage(nn.Module model, nn.Module ema, double decay, bool warmup)
    {
        var mp = model.named_parameters().ToArray();
        var ep = ema.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter);
        if (mp.Length != ep.Count) throw new ArgumentException("EMA module has a different architecture.");
        _pairs = mp.Select(p => (ep[p.name], (Tensor)p.parameter)).ToArray();
        foreach (var (name, p) in ema.named_parameters()) p.requires_grad = false;
        ema.eval();
        Decay = decay; Warmup = warmup;
    }

    /// <summary>Target decay.</summary>
    public double Decay { get; }
    /// <summary>Whether the decay is warmed up.</summary>
    public bool Warmup { get; }

    /// <summary>Decay applied at update number <paramref name="updates"/> (0-based).</summary>
    public double DecayAt(long updates) => Warmup ? Math.Min(Decay, (1.0 + updates) / (10.0 + updates)) : Decay;

    /// <summary>One EMA update after optimizer step <paramref name="updates"/> (0-based).</summary>
    public void Update(long updates)
    {
        double d = DecayAt(updates);
        using var _ = no_grad();
        // Scalars held for the whole loop: TorchSharp can finalize an implicit one during its native call (AdamW.cs)
        using Scalar decay = d.ToScalar(), rest = (1 - d).ToScalar();
        foreach (var (e, p) in _pairs) e.mul_(decay).add_(p, alpha: rest);
    }

    /// <summary>Copies the parameters and buffers of <paramref name="source"/> into <paramref name="target"/> (same architecture).</summary>
    public static void CopyWeights(nn.Module source, nn.Module target)
    {
        using var _ = no_grad();
        var src = source.state_dict();
        foreach (var (name, t) in target.state_dict()) t.copy_(src[name]);
    }

    /// <summary>
    /// Copies every tensor of <paramref name="source"/> into the same-named tensor of <paramref name="target"/>, which
    /// may have more (a student's guidance input keeps its own initialisation).
    /// </summary>
    /// <exception cref="InvalidOperationException">A source tensor the target lacks.</exception>
    public static void CopySharedWeights(nn.Module source, nn.Module target)
    {
        using var _ = no_grad();
        var dst = target.state_dict();
        foreach (var (name, t) in source.state_dict())
        {
            if (!dst.TryGetValue(name, out var d)) throw new InvalidOperationException($"The target module has no '{name}'.");
            d.copy_(t);
        }
    }
}
