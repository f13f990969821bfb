using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Train.Optim;

/// <summary>
/// TorchSharp's AdamW (Loshchilov &amp; Hutter 2019) with a step that keeps its Scalars alive. TorchSharp 0.107's
/// step writes <c>addcmul_(grad, grad, value: 1 - beta2)</c> and the like: each double becomes a temporary Scalar whose
/// handle is passed to native code without keeping the Scalar reachable, so a GC on another thread during the call
/// can finalize it first and libtorch reads freed memory ("Expected false to be true ... toFloat", seen when a shapes
/// run crashed at step 126). This step makes the same operations in the same order on the same values (so the
/// updates are bit-identical, tested), with every Scalar held by a <c>using</c> until the step ends. The class name is
/// the library's, so the optimizer state TorchSharp writes into checkpoints (it records the type name) stays
/// interchangeable with checkpoints written before. Plain AdamW only: no AMSGrad, no maximize.
/// </summary>
public sealed class AdamW : TorchSharp.Modules.AdamW
{
    /// <summary>AdamW over <paramref name="parameters"/> (betas 0.9 / 0.999, eps 1e-8: TorchSharp's defaults).</summary>
    public AdamW(IEnumerable<TorchSharp.Modules.Parameter> parameters, double lr, double weightDecay)
        : base(parameters, lr: lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: weightDecay) { }

    /// <inheritdoc/>
    public override Tensor step(Func<Tensor>? closure = null) => _step<ParamGroup>(group =>
    {
        var o = group.Options;
        if (o.amsgrad == true || o.maximize == true) throw new NotSupportedException("AMSGrad and maximize are not supported by this AdamW.");
        double beta1 = o.beta1!.Value, beta2 = o.beta2!.Value, lr = o.LearningRate!.Value;
        using Scalar decay = (1 - lr * o.weight_decay!.Value).ToScalar();
        using Scalar b1 = beta1.ToScalar(), oneMinusB1 = (1 - beta1).ToScalar();
        using Scalar b2 = beta2.ToScalar(), oneMinusB2 = (1 - beta2).ToScalar();
        using Scalar eps = o.eps!.Value.ToScalar();
        foreach (var param in group.Parameters)
        {
            var state = (State)_state[param.Handle];
            var grad = param.grad;
            if (grad is null) continue;
            state.step += 1;
            param.mul_(decay);                                                            // decoupled weight decay
            double biasCorrection1 = 1 - Math.Pow(beta1, state.step);
            double biasCorrection2 = 1 - Math.Pow(beta2, state.step);
            state.exp_avg.mul_(b1).add_(grad, alpha: oneMinusB1);                         // m = b1 m + (1 - b1) g
            state.exp_avg_sq.mul_(b2).addcmul_(grad, grad, value: oneMinusB2);            // v = b2 v + (1 - b2) g^2
            using Scalar sqrtBc2 = Math.Sqrt(biasCorrection2).ToScalar();
            var denom = (state.exp_avg_sq.sqrt() / sqrtBc2).add_(eps);                    // sqrt(v / bc2) + eps
            using Scalar stepSize = (-(lr / biasCorrection1)).ToScalar();
            param.addcdiv_(state.exp_avg, denom, value: stepSize);                        // p -= lr / bc1 * m / denom
        }
    }, closure);
}
