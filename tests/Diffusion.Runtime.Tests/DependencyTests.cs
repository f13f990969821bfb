using System.Reflection;
using System.Text.Json;
using Diffusion.Runtime.Generation;

namespace Diffusion.Runtime.Tests;

/// <summary>The runtime must never depend on TorchSharp, directly or transitively.</summary>
public class DependencyTests
{
    private static bool IsTorch(string name) =>
        name.StartsWith("TorchSharp", StringComparison.OrdinalIgnoreCase) || name.StartsWith("libtorch", StringComparison.OrdinalIgnoreCase);

    // NuGet's resolved graph for the project (every package, transitive ones included), as restore wrote it.
    [Fact]
    public void RestoreGraph_HasOnnxRuntime_AndNoTorchSharp()
    {
        string assets = Path.Combine(TinyModels.RepoRoot(), "runtime", "Diffusion.Runtime", "obj", "project.assets.json");
        Assert.True(File.Exists(assets), $"{assets} missing: restore the runtime project first");
        using var doc = JsonDocument.Parse(File.ReadAllText(assets));
        var libraries = doc.RootElement.GetProperty("libraries").EnumerateObject().Select(p => p.Name.Split('/')[0]).ToList();
        Assert.Contains("Microsoft.ML.OnnxRuntime", libraries);
        Assert.DoesNotContain(libraries, IsTorch);
        foreach (var target in doc.RootElement.GetProperty("targets").EnumerateObject())
            Assert.DoesNotContain(target.Value.EnumerateObject().Select(p => p.Name), IsTorch);
    }

    // The compiled assembly's references, followed transitively through every assembly that can be loaded.
    [Fact]
    public void AssemblyReferences_Transitively_HaveNoTorchSharp()
    {
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var queue = new Queue<Assembly>([typeof(DiffusionPipeline).Assembly]);
        while (queue.Count > 0)
        {
            var asm = queue.Dequeue();
            foreach (var reference in asm.GetReferencedAssemblies())
            {
                Assert.False(IsTorch(reference.Name!), $"{asm.GetName().Name} references {reference.Name}");
                if (!seen.Add(reference.Name!)) continue;
                try { queue.Enqueue(Assembly.Load(reference)); }
                catch (FileNotFoundException) { } // framework facades not present on disk
            }
        }
        Assert.Contains("Microsoft.ML.OnnxRuntime", seen);
    }
}
