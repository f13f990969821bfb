using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Diffusion.Judge;

/// <summary>
/// The judge: a small CNN classifier for 28 x 28 grayscale images in [-1, 1].
/// conv1-bn1-relu, conv2-bn2-relu, maxpool 2 (28 to 14); conv3-bn3-relu, conv4-bn4-relu, maxpool 2 (14 to 7);
/// flatten; penultimate (Linear) + relu = features [N, F]; dropout; head (Linear) = logits [N, K].
/// Fields are named like PyTorch state_dict keys and declared in call order; the ONNX exporter walks them by name.
/// </summary>
public sealed partial class JudgeCnn : Module<Tensor, Tensor>
{
    private readonly Conv2d conv1;
    private readonly BatchNorm2d bn1;
    private readonly Conv2d conv2;
    private readonly BatchNorm2d bn2;
    private readonly Conv2d conv3;
    private readonly BatchNorm2d bn3;
    private readonly Conv2d conv4;
    private readonly BatchNorm2d bn4;
    private readonly Linear penultimate;
    private readonly Dropout dropout;
    private readonly Linear head;

    /// <summary>The architecture this model was built from.</summary>
    public JudgeConfig Config { get; }

    /// <summary>Builds the network for <paramref name="config"/> (validated first).</summary>
    public JudgeCnn(JudgeConfig config) : base(nameof(JudgeCnn))
    {
        config.Validate();
        Config = config;
        int c1 = config.Channels1, c2 = config.Channels2;
        // Convolutions feed BatchNorm, so their bias would be redundant.
        conv1 = Conv2d(config.InChannels, c1, 3, padding: 1, bias: false);
        bn1 = BatchNorm2d(c1);
        conv2 = Conv2d(c1, c1, 3, padding: 1, bias: false);
        bn2 = BatchNorm2d(c1);
        conv3 = Conv2d(c1, c2, 3, padding: 1, bias: false);
        bn3 = BatchNorm2d(c2);
        conv4 = Conv2d(c2, c2, 3, padding: 1, bias: false);
        bn4 = BatchNorm2d(c2);
        penultimate = Linear(config.FlatDim, config.FeatureDim);
        dropout = Dropout(config.Dropout);
        head = Linear(config.FeatureDim, config.NumClasses);
        RegisterComponents();
    }

    /// <summary>Class logits.</summary>
    /// <param name="x">Images, [N, 1, 28, 28] float in [-1, 1].</param>
    /// <returns>Logits, [N, K].</returns>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var (logits, _) = ForwardWithFeatures(x);
        return logits.MoveToOuterDisposeScope();
    }

    /// <summary>Logits and the penultimate features (after ReLU, before dropout).</summary>
    /// <param name="x">Images, [N, 1, 28, 28] float in [-1, 1].</param>
    /// <returns>Logits [N, K] and features [N, F].</returns>
    public (Tensor Logits, Tensor Features) ForwardWithFeatures(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = functional.relu(bn1.forward(conv1.forward(x)));
        h = functional.relu(bn2.forward(conv2.forward(h)));
        h = functional.max_pool2d(h, 2);
        h = functional.relu(bn3.forward(conv3.forward(h)));
        h = functional.relu(bn4.forward(conv4.forward(h)));
        h = functional.max_pool2d(h, 2);
        var features = functional.relu(penultimate.forward(h.flatten(1)));
        var logits = head.forward(dropout.forward(features));
        return (logits.MoveToOuterDisposeScope(), features.MoveToOuterDisposeScope());
    }

    /// <summary>Number of trainable parameters.</summary>
    public long ParameterCount() => parameters().Sum(p => p.numel());
}
