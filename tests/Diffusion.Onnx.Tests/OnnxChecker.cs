using System.Diagnostics;

namespace Diffusion.Onnx.Tests;

/// <summary>
/// Runs the official ONNX checker (Debian's python3-onnx, under /usr/bin/python3) on a model file:
/// <c>onnx.checker.check_model(model, full_check=True)</c> and strict shape inference with type checking.
/// </summary>
public static class OnnxChecker
{
    public const string Python = "/usr/bin/python3";

    private const string Script = """
        import sys, onnx
        from onnx import checker, shape_inference
        m = onnx.load(sys.argv[1])
        checker.check_model(m, full_check=True)
        shape_inference.infer_shapes(m, check_type=True, strict_mode=True, data_prop=True)
        print("ok", onnx.__version__, m.ir_version, m.opset_import[0].version)
        """;

    /// <summary>Fails the test with the checker's message when the model is invalid or python3-onnx is missing.</summary>
    public static string Check(string path)
    {
        if (!File.Exists(Python))
            Assert.Fail($"{Python} not found: install Debian's python3 and python3-onnx (apt-get install -y python3-onnx) to run the official ONNX checker.");
        var probe = RunPython(["-c", "import onnx"]);
        if (probe.Code != 0)
            Assert.Fail($"The official ONNX checker is missing: install it with 'apt-get install -y python3-onnx' (Debian's package; CI's .ci/run does). {probe.Err.Trim()}");
        var r = RunPython(["-c", Script, path]);
        if (r.Code != 0) Assert.Fail($"ONNX checker rejected {path}:\n{r.Err}");
        return r.Out.Trim();
    }

    private static (int Code, string Out, string Err) RunPython(IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo(Python) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment.Remove("PYTHONPATH");
        psi.Environment.Remove("PYTHONHOME");
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, output, err.Result);
    }
}
