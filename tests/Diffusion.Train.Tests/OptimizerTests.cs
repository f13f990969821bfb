using Diffusion.Train.Optim;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Train.Tests;

public class OptimizerTests
{
    /// <summary>Two identical small networks (seeded), one fixed batch.</summary>
    private static (nn.Module<Tensor, Tensor> A, nn.Module<Tensor, Tensor> B, Tensor X) Twins()
    {
        nn.Module<Tensor, Tensor> Make() { manual_seed(3); return nn.Sequential(nn.Linear(6, 8), nn.SiLU(), nn.Linear(8, 3)); }
        var a = Make();
        var b = Make();
        manual_seed(4);
        return (a, b, randn(5, 6));
    }

    private static void Steps(nn.Module<Tensor, Tensor> net, torch.optim.Optimizer opt, Tensor x, int steps, double[] lrs)
    {
        for (int s = 0; s < steps; s++)
        {
            using var scope = NewDisposeScope();
            opt.zero_grad();
            net.forward(x).square().mean().backward();
            foreach (var g in opt.ParamGroups) g.LearningRate = lrs[s % lrs.Length];
            opt.step();
        }
    }

    [Fact]
    public void AdamW_UpdatesAreBitIdenticalToTorchSharps()
    {
        var (a, b, x) = Twins();
        double[] lrs = [1e-2, 3e-3, 2e-2];
        using var ours = new AdamW(a.parameters().ToArray(), lrs[0], weightDecay: 0.01);
        using var theirs = torch.optim.AdamW(b.parameters().ToArray(), lr: lrs[0], weight_decay: 0.01);
        Steps(a, ours, x, 7, lrs);
        Steps(b, theirs, x, 7, lrs);
        var pa = a.parameters().ToArray();
        var pb = b.parameters().ToArray();
        Assert.Equal(pb.Length, pa.Length);
        static float[] Values(Tensor t) => t.detach().data<float>().ToArray();
        Assert.NotEqual(Values(Twins().A.parameters().First()), Values(pa[0]));   // the steps changed the weights
        for (int i = 0; i < pa.Length; i++)
            Assert.Equal(Values(pb[i]), Values(pa[i]));                             // bit for bit, after 7 steps
    }

    [Fact]
    public void AdamW_StateIsInterchangeableWithTorchSharps_InBothDirections()
    {
        // checkpoints written before this class (TorchSharp's AdamW) must resume, and the other way round
        var (a, b, x) = Twins();
        using var ours = new AdamW(a.parameters().ToArray(), 1e-2, 0);
        using var theirs = torch.optim.AdamW(b.parameters().ToArray(), lr: 1e-2);
        Steps(a, ours, x, 3, [1e-2]);
        Steps(b, theirs, x, 3, [1e-2]);
        byte[] Save(TorchSharp.Modules.OptimizerHelper o)
        {
            using var ms = new MemoryStream();
            using (var w = new BinaryWriter(ms, System.Text.Encoding.UTF8, leaveOpen: true)) o.save_state_dict(w);
            return ms.ToArray();
        }
        byte[] fromOurs = Save(ours), fromTheirs = Save(theirs);
        Assert.Equal(fromTheirs, fromOurs);                 // same weights, same steps: the same bytes, type name included
        theirs.load_state_dict(new BinaryReader(new MemoryStream(fromOurs)));
        ours.load_state_dict(new BinaryReader(new MemoryStream(fromTheirs)));
    }
}
