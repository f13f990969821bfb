using Diffusion.Onnx;
using Diffusion.Onnx.Torch;

namespace Diffusion.Judge;

// The ONNX form of the judge CNN, beside it (JudgeCnn.cs), on the same fields.

public sealed partial class JudgeCnn : IOnnxModule
{
    /// <summary>Mirrors <see cref="ForwardWithFeatures"/> op for op: [logits [batch, K], features [batch, F]].</summary>
    GraphValue[] IOnnxModule.EmitOnnx(EmitScope s, GraphValue[] inputs)
    {
        var g = s.Graph;
        GraphValue Block(GraphValue h, TorchSharp.Modules.Conv2d conv, TorchSharp.Modules.BatchNorm2d bn) => g.Relu(s.Call1(bn, s.Call1(conv, h)));
        GraphValue Pool(GraphValue h) => g.MaxPool(h, [2, 2], [2, 2], [0, 0, 0, 0]);

        var h = Block(inputs[0], conv1, bn1);
        h = Pool(Block(h, conv2, bn2));
        h = Block(h, conv3, bn3);
        h = Pool(Block(h, conv4, bn4));
        var features = g.Relu(s.Call1(penultimate, g.Flatten(h, 1)));
        var logits = s.Call1(head, s.Call1(dropout, features));
        return [logits, features];
    }
}
