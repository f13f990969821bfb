using Diffusion.Train.Model;
foreach (var p in new[] { "small", "medium", "large" })
{
    using var m = new UNet(UNetConfig.Preset(p));
    var x = TorchSharp.torch.randn(7, 1, 28, 28);
    var y = m.forward(x, TorchSharp.torch.randint(0, 1000, [7], dtype: TorchSharp.torch.int64), TorchSharp.torch.full([7], 10L));
    Console.WriteLine($"{p}: {m.ParameterCount():N0} params, out [{string.Join(",", y.shape)}]");
    foreach (var (name, _) in m.named_parameters().Where(n => n.name.Contains("attn") || n.name.StartsWith("down.0") || n.name.StartsWith("mid")).Take(12)) Console.WriteLine("  " + name);
}
