using System.Xml.Linq;

namespace Diffusion.Runtime.Tests;

/// <summary>
/// Rules of the project graph (issue 14, docs/architecture.md), read from every .csproj of the repository: every stage
/// is a library with a thin command line (an Exe of one Program.cs) beside it, and no project, tests included,
/// references an Exe (<see cref="KnownExeReferences"/> is the ratchet that emptied while the stages were split; it
/// stays empty).
/// </summary>
public class ArchitectureTests
{
    private sealed record Project(string Path, string Name, bool IsExe, bool IsTest, IReadOnlyList<string> References, IReadOnlyList<string> Packages, IReadOnlyList<string> LinkedSources);

    // Project paths relative to the repository root, '/'-separated.
    private static readonly Lazy<IReadOnlyList<Project>> s_projects = new(LoadProjects);

    private static IReadOnlyList<Project> LoadProjects()
    {
        string root = TinyModels.RepoRoot();
        var skip = new[] { "/obj/", "/bin/", "/artifacts/", "/.tools/" };
        var list = new List<Project>();
        foreach (var file in Directory.EnumerateFiles(root, "*.csproj", SearchOption.AllDirectories))
        {
            string rel = Path.GetRelativePath(root, file).Replace('\\', '/');
            if (skip.Any(s => ("/" + rel).Contains(s, StringComparison.Ordinal))) continue;
            var doc = XDocument.Load(file);
            string dir = Path.GetDirectoryName(file)!;
            string Resolve(string include) => Path.GetRelativePath(root, Path.GetFullPath(Path.Combine(dir, include.Replace('\\', '/')))).Replace('\\', '/');
            var items = doc.Descendants();
            list.Add(new Project(
                rel,
                Path.GetFileNameWithoutExtension(file),
                items.Any(e => e.Name.LocalName == "OutputType" && e.Value.Trim().Equals("Exe", StringComparison.OrdinalIgnoreCase)),
                rel.StartsWith("tests/", StringComparison.Ordinal),
                [.. items.Where(e => e.Name.LocalName == "ProjectReference").Select(e => Resolve(e.Attribute("Include")!.Value))],
                [.. items.Where(e => e.Name.LocalName == "PackageReference").Select(e => e.Attribute("Include")!.Value)],
                [.. items.Where(e => e.Name.LocalName == "Compile" && e.Attribute("Include") is { } inc && inc.Value.Contains("..", StringComparison.Ordinal))
                    .Select(e => Resolve(e.Attribute("Include")!.Value.Replace("$(MSBuildThisFileDirectory)", "", StringComparison.Ordinal)))]));
        }
        return list;
    }

    /// <summary>References from a project to an Exe project that exist before the redesign. Only ever remove lines.</summary>
    private static readonly string[] KnownExeReferences = [];

    private static string Folder(string csproj) => csproj[..csproj.LastIndexOf('/')];

    [Fact]
    public void Projects_AreFound()
    {
        var names = s_projects.Value.Select(p => p.Name).ToList();
        Assert.Contains("Diffusion.Runtime", names);
        Assert.Contains("Diffusion.Runtime.Tests", names);
        Assert.True(names.Count >= 20, $"found {names.Count} projects");
    }

    [Fact]
    public void NoNewReferenceToAnExecutable_AndTheKnownOnesOnlyShrink()
    {
        var exes = s_projects.Value.Where(p => p.IsExe).Select(p => p.Path).ToHashSet();
        var edges = s_projects.Value
            .SelectMany(p => p.References.Where(exes.Contains).Select(r => $"{Folder(p.Path)} -> {Folder(r)}"))
            .Order(StringComparer.Ordinal).ToList();
        var added = edges.Except(KnownExeReferences).ToList();
        var gone = KnownExeReferences.Except(edges).ToList();
        Assert.True(added.Count == 0, "new references to executables (make the stage a library with a thin command line beside it): " + string.Join("; ", added));
        Assert.True(gone.Count == 0, "these references to executables are gone: take them off ArchitectureTests.KnownExeReferences: " + string.Join("; ", gone));
    }

    [Fact]
    public void EveryExecutable_IsAThinCommandLine()
    {
        // an Exe is <stage>.Cli (or the sample app): one Program.cs of a few lines that calls its library
        string root = TinyModels.RepoRoot();
        foreach (var p in s_projects.Value.Where(p => p.IsExe && !p.IsTest && !p.Path.StartsWith("runtime/samples/", StringComparison.Ordinal)))
        {
            Assert.EndsWith(".Cli", p.Name, StringComparison.Ordinal);
            string dir = Path.Combine(root, Folder(p.Path));
            var sources = Directory.EnumerateFiles(dir, "*.cs", SearchOption.AllDirectories)
                .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                         && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal)).ToList();
            Assert.True(sources.Count == 1 && Path.GetFileName(sources[0]) == "Program.cs", $"{p.Path}: expected Program.cs only, found {string.Join(", ", sources.Select(Path.GetFileName))}");
            int lines = File.ReadAllLines(sources[0]).Count(l => l.Trim().Length > 0 && !l.TrimStart().StartsWith("//", StringComparison.Ordinal));
            Assert.True(lines <= 6, $"{sources[0]}: {lines} lines of code; the commands belong in the library");
            Assert.Single(p.References);
        }
    }

    [Fact]
    public void TheRuntimePackage_ReferencesOnlyTheCore_AndOnlyOnnxRuntime()
    {
        var runtime = s_projects.Value.Single(p => p.Path == "runtime/Diffusion.Runtime/Diffusion.Runtime.csproj");
        Assert.Equal(["runtime/Diffusion.Core/Diffusion.Core.csproj"], runtime.References);
        Assert.Empty(runtime.LinkedSources);
        Assert.All(runtime.Packages, p => Assert.StartsWith("Microsoft.ML.OnnxRuntime", p, StringComparison.Ordinal));
    }

    [Fact]
    public void TheCore_DependsOnNothing()
    {
        var core = s_projects.Value.Single(p => p.Path == "runtime/Diffusion.Core/Diffusion.Core.csproj");
        Assert.Empty(core.References);
        Assert.Empty(core.Packages);
        Assert.Empty(core.LinkedSources);
    }

    // The trainer and the judge's trainer build on the core: ONNX Runtime is not in their graph (issue 14).
    [Theory]
    [InlineData("train/Diffusion.Train/Diffusion.Train.csproj")]
    [InlineData("train/Diffusion.Judge/Diffusion.Judge.csproj")]
    public void TrainingNeverSeesOnnxRuntime(string project)
    {
        var byPath = s_projects.Value.ToDictionary(p => p.Path);
        var seen = new HashSet<string>();
        var stack = new Stack<string>([project]);
        while (stack.Count > 0)
        {
            var p = byPath[stack.Pop()];
            Assert.DoesNotContain(p.Packages, n => n.StartsWith("Microsoft.ML.OnnxRuntime", StringComparison.Ordinal));
            Assert.NotEqual("runtime/Diffusion.Runtime/Diffusion.Runtime.csproj", p.Path);
            foreach (var r in p.References) if (seen.Add(r)) stack.Push(r);
        }
        string assets = Path.Combine(TinyModels.RepoRoot(), Path.GetDirectoryName(project)!, "obj", "project.assets.json");
        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(assets));
        Assert.DoesNotContain(doc.RootElement.GetProperty("libraries").EnumerateObject(), l => l.Name.StartsWith("Microsoft.ML.OnnxRuntime", StringComparison.Ordinal));
    }

    [Fact]
    public void NoProjectCompilesAnotherProjectsSources()
    {
        // shared code is a library (the one CLI host is Diffusion.Tools.Cli.CliHost), not a file linked into several
        // projects; only tests share test helpers that way
        foreach (var p in s_projects.Value.Where(p => !p.IsTest))
            Assert.True(p.LinkedSources.Count == 0, $"{p.Path} compiles {string.Join(", ", p.LinkedSources)}");
    }

    [Fact]
    public void TheRuntimePackage_ShipsNoToolCode()
    {
        string[] toolTypes = ["AtomicFile", "Idx", "IdxArray", "IdxDataset", "MarkedSection", "MachineInfo", "JudgeMetadata", "CliRunner", "CliHost"];
        var shipped = typeof(Diffusion.Runtime.Generation.DiffusionPipeline).Assembly.GetTypes().Concat(typeof(NoiseSchedule).Assembly.GetTypes()).Select(t => t.Name).ToHashSet();
        foreach (var t in toolTypes) Assert.DoesNotContain(t, shipped);
        Assert.DoesNotContain(typeof(Diffusion.Runtime.Generation.DiffusionPipeline).Assembly.GetReferencedAssemblies(), a => a.Name == "System.CommandLine");
    }

    [Fact]
    public void TheOnnxBuilder_DependsOnNothingOfOurs()
    {
        var onnx = s_projects.Value.Single(p => p.Path == "export/Diffusion.Onnx/Diffusion.Onnx.csproj");
        Assert.Empty(onnx.References);
        Assert.All(onnx.Packages, p => Assert.StartsWith("Google.Protobuf", p.Replace("Grpc.Tools", "Google.Protobuf", StringComparison.Ordinal), StringComparison.Ordinal));
    }

    [Fact]
    public void TheTorchBridge_KnowsNoModelOfOurs()
    {
        // the U-Net and the judge write their own nodes (IOnnxModule, beside their forward); the bridge only walks trees
        var bridge = s_projects.Value.Single(p => p.Path == "export/Diffusion.Onnx.Torch/Diffusion.Onnx.Torch.csproj");
        Assert.Equal(["export/Diffusion.Onnx/Diffusion.Onnx.csproj"], bridge.References);
    }

    // Each top-level folder's README says what lives there and what it may depend on: a table naming every project of
    // the folder, whose "may depend on" column names every project it references (so the README cannot drift).
    [Theory]
    [InlineData("train")]
    [InlineData("export")]
    [InlineData("runtime")]
    [InlineData("eval")]
    [InlineData("benchmarks")]
    [InlineData("tests")]
    public void EveryFolderReadme_SaysWhatLivesThere_AndWhatEachProjectMayDependOn(string folder)
    {
        string readme = Path.Combine(TinyModels.RepoRoot(), folder, "README.md");
        Assert.True(File.Exists(readme), $"{folder}/README.md is missing");
        string text = File.ReadAllText(readme);
        int at = text.IndexOf("## What lives here", StringComparison.Ordinal);
        Assert.True(at >= 0, $"{folder}/README.md has no '## What lives here' section");
        var rows = text[at..].Split('\n').SkipWhile(l => !l.StartsWith('|')).TakeWhile(l => l.StartsWith('|'))
            .Select(l => l.Split('|', StringSplitOptions.TrimEntries)).Where(c => c.Length > 3 && c[1].StartsWith('`')).ToList();
        foreach (var p in s_projects.Value.Where(p => p.Path.StartsWith(folder + "/", StringComparison.Ordinal)))
        {
            var row = rows.FirstOrDefault(c => c[1].Contains($"`{p.Name}`", StringComparison.Ordinal));
            Assert.True(row is not null, $"{folder}/README.md's table does not name {p.Name}");
            if (p.IsTest) continue; // a test project's column names what it tests through
            foreach (var r in p.References)
            {
                string name = Path.GetFileNameWithoutExtension(r), shortName = name.StartsWith("Diffusion.", StringComparison.Ordinal) ? name["Diffusion.".Length..] : name;
                Assert.True(System.Text.RegularExpressions.Regex.IsMatch(row![^2], $@"(^|[\s,(]){System.Text.RegularExpressions.Regex.Escape(shortName)}($|[\s,)])"),
                    $"{folder}/README.md: {p.Name} references {name}, which its 'may depend on' column ({row[^2]}) does not name");
            }
        }
    }

    [Fact]
    public void NoLibraryDependsOnTorchSharp_UnlessItIsATrainingOrExportStage()
    {
        // TorchSharp belongs to train/, export/ (except the dependency-free ONNX builder), the study and the
        // benchmarks' TorchSharp baseline; never to runtime/ or to the ML.NET side of eval/.
        string[] torchFree = ["runtime/", "export/Diffusion.Onnx/", "eval/Diffusion.Eval/"];
        foreach (var p in s_projects.Value.Where(p => !p.IsTest && torchFree.Any(f => p.Path.StartsWith(f, StringComparison.Ordinal))))
            Assert.DoesNotContain(p.Packages, n => n.StartsWith("TorchSharp", StringComparison.Ordinal) || n.StartsWith("libtorch", StringComparison.Ordinal));
    }

    private static string Node(string name) => $"{name.Replace('.', '_')}[\"{name}\"]";

    [Fact]
    public void TheDocumentedProjectGraph_IsTheProjectReferences()
    {
        var names = s_projects.Value.ToDictionary(p => p.Path, p => p.Name);
        var expected = s_projects.Value.Where(p => !p.IsTest)
            .SelectMany(p => p.References.Select(r => $"  {Node(p.Name)} --> {Node(names[r])}"))
            .Distinct().Order(StringComparer.Ordinal).ToList();
        string doc = File.ReadAllText(Path.Combine(TinyModels.RepoRoot(), "docs", "architecture.md"));
        int start = doc.IndexOf("```mermaid\ngraph LR\n", StringComparison.Ordinal);
        Assert.True(start >= 0, "docs/architecture.md has no ```mermaid graph LR block");
        start += "```mermaid\ngraph LR\n".Length;
        var documented = doc[start..doc.IndexOf("```", start, StringComparison.Ordinal)].Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList();
        Assert.True(expected.SequenceEqual(documented),
            "docs/architecture.md's project graph differs from the .csproj references; replace its mermaid block's edges with:\n" + string.Join("\n", expected));
    }

    [Fact]
    public void FollowOneImage_ListsAtMost25ExistingFiles()
    {
        string root = TinyModels.RepoRoot();
        string doc = File.ReadAllText(Path.Combine(root, "docs", "architecture.md"));
        string section = doc[doc.IndexOf("## Follow one image", StringComparison.Ordinal)..];
        section = section[..section.IndexOf("\n## ", 3, StringComparison.Ordinal)];
        var files = System.Text.RegularExpressions.Regex.Matches(section, @"^\d+\. `([^`]+)`", System.Text.RegularExpressions.RegexOptions.Multiline)
            .Select(m => m.Groups[1].Value).ToList();
        Assert.InRange(files.Count, 10, 25);
        foreach (var f in files) Assert.True(File.Exists(Path.Combine(root, f)), $"docs/architecture.md names {f}, which does not exist");
    }

    // Source files of the shipped projects (tests excluded: they may spell what they check).
    private static IEnumerable<string> ProductSources()
    {
        string root = TinyModels.RepoRoot();
        foreach (var p in s_projects.Value.Where(p => !p.IsTest))
            foreach (var f in Directory.EnumerateFiles(Path.Combine(root, Folder(p.Path)), "*.cs", SearchOption.AllDirectories))
            {
                string rel = Path.GetRelativePath(root, f).Replace('\\', '/');
                if (!rel.Contains("/obj/", StringComparison.Ordinal) && !rel.Contains("/bin/", StringComparison.Ordinal)) yield return rel;
            }
    }

    // A string literal equal to one of the names anywhere in shipped code but the owner is a second definition.
    private static void AssertSpelledOnlyBy(string owner, string ownerType, IReadOnlyList<string> names)
    {
        string root = TinyModels.RepoRoot();
        Assert.True(File.Exists(Path.Combine(root, owner)), owner);
        var hits = new List<string>();
        foreach (var rel in ProductSources().Where(r => r != owner))
        {
            var lines = File.ReadAllLines(Path.Combine(root, rel));
            for (int i = 0; i < lines.Length; i++)
                foreach (var n in names)
                    if (!lines[i].TrimStart().StartsWith("///", StringComparison.Ordinal) && lines[i].Contains($"\"{n}\"", StringComparison.Ordinal))
                        hits.Add($"{rel}:{i + 1} \"{n}\"");
        }
        Assert.True(hits.Count == 0, $"use {ownerType} instead of: " + string.Join("; ", hits));
    }

    // The same in prose: a file name inside any string literal (a help text, a message, card text) outside the owner
    // is a copy that drifts when the name changes; interpolate the owner's constant instead.
    private static void AssertMentionedOnlyBy(string[] owners, string ownerType, IReadOnlyList<string> names)
    {
        string root = TinyModels.RepoRoot();
        var literal = new System.Text.RegularExpressions.Regex(@"""(?:[^""\\]|\\.)*""");
        var hits = new List<string>();
        foreach (var rel in ProductSources().Where(r => !owners.Contains(r)))
        {
            var lines = File.ReadAllLines(Path.Combine(root, rel));
            for (int i = 0; i < lines.Length; i++)
            {
                if (lines[i].TrimStart().StartsWith("//", StringComparison.Ordinal)) continue;
                foreach (System.Text.RegularExpressions.Match m in literal.Matches(lines[i]))
                    foreach (var n in names)
                        if (m.Value.Contains(n, StringComparison.Ordinal)) hits.Add($"{rel}:{i + 1} {n}");
            }
        }
        Assert.True(hits.Count == 0, $"interpolate {ownerType}'s constants instead of: " + string.Join("; ", hits));
    }

    [Fact]
    public void ModelFolderAndRunFolderFileNames_AreNotCopiedIntoProse()
        => AssertMentionedOnlyBy(["runtime/Diffusion.Core/ModelFolderLayout.cs", "runtime/Diffusion.Tools/RunFolder.cs"], "ModelFolderLayout / RunFolder",
            [.. Constants(typeof(ModelFolderLayout)).Where(n => n.Contains('.', StringComparison.Ordinal)),
             .. Constants(typeof(Diffusion.Tools.RunFolder)).Where(n => n.Contains('.', StringComparison.Ordinal))]);

    private static List<string> Constants(Type owner) =>
        [.. owner.GetFields().Where(f => f.IsLiteral && f.FieldType == typeof(string)).Select(f => (string)f.GetRawConstantValue()!)];

    [Fact]
    public void ScheduleParameterKeys_AreSpelledOnlyByTheirOwner()
        => AssertSpelledOnlyBy("runtime/Diffusion.Core/ScheduleSpec.cs", nameof(ScheduleSpec), ["beta_start", "beta_end", "max_beta", "cosine_s"]);

    [Fact]
    public void ModelCardMarkers_AreSpelledOnlyByTheirOwner()
    {
        var names = Constants(typeof(Diffusion.Tools.ModelCard));
        Assert.Equal(8, names.Count);   // begin and end of the int8, quality, students and students' quality sections
        AssertSpelledOnlyBy("runtime/Diffusion.Tools/ModelCard.cs", nameof(Diffusion.Tools.ModelCard), names);
        // and no other writer of the card files: export, the int8 graphs, eval and the benchmarks' reader go through
        // ModelCard; the benchmarks only check that a folder holds one
        string root = TinyModels.RepoRoot();
        string[] allowed = ["runtime/Diffusion.Tools/ModelCard.cs", "benchmarks/Diffusion.Benchmarks/SuiteRunner.cs"];
        var writers = ProductSources().Where(r => !allowed.Contains(r))
            .Where(r => System.Text.RegularExpressions.Regex.IsMatch(File.ReadAllText(Path.Combine(root, r)), @"Path\.Combine\([^;]*ModelFolderLayout\.Card(Json|Markdown)")).ToList();
        Assert.True(writers.Count == 0, "writes the model card around Tools.ModelCard: " + string.Join(", ", writers));
    }

    [Fact]
    public void ModelFolderFileNames_AreSpelledOnlyByTheirOwner()
    {
        var names = Constants(typeof(ModelFolderLayout));
        Assert.Contains("unet.onnx", names);
        AssertSpelledOnlyBy("runtime/Diffusion.Core/ModelFolderLayout.cs", nameof(ModelFolderLayout), names);
    }

    [Fact]
    public void RunFolderNames_AreSpelledOnlyByTheirOwner()
    {
        // "samples" and "tb" are also ordinary words (a TensorBoard tag is "samples"): the file names are checked
        var names = Constants(typeof(Diffusion.Tools.RunFolder)).Where(n => n.Contains('.', StringComparison.Ordinal) || n == "checkpoints").ToList();
        Assert.Equal(["checkpoints", "last.ckpt", "log.jsonl", "config.json", "judge.ckpt"], names);
        AssertSpelledOnlyBy("runtime/Diffusion.Tools/RunFolder.cs", "RunFolder", names);
    }

    [Fact]
    public void JudgeGraphNames_AreSpelledOnlyByTheirOwner()
    {
        string[] names = [Diffusion.Tools.JudgeMetadata.ImageInput, Diffusion.Tools.JudgeMetadata.LogitsOutput, Diffusion.Tools.JudgeMetadata.ProbabilitiesOutput,
            Diffusion.Tools.JudgeMetadata.FeaturesOutput];
        AssertSpelledOnlyBy("runtime/Diffusion.Tools/JudgeMetadata.cs", "JudgeMetadata", names);
    }

    [Fact]
    public void UNetSignatureNames_AreSpelledOnlyByTheirOwner()
    {
        // the graph's names where a graph is declared, bound or fed: Input("x", ...), BindInput("t", ...), ["y"] = ...,
        // a list of them; any of these outside UNetSignature is a second definition
        var uses = new System.Text.RegularExpressions.Regex(
            @"(Input|Output|BindInput|BindOutput)\(\s*""(x|t|y|scale|out)""|\[""(x|t|y|scale|out)""\]|""x"",\s*""t""|Input\([^;]*""batch""");
        string owner = "runtime/Diffusion.Core/UNetSignature.cs", root = TinyModels.RepoRoot();
        var hits = new List<string>();
        foreach (var rel in ProductSources().Where(r => r != owner))
        {
            var lines = File.ReadAllLines(Path.Combine(root, rel));
            for (int i = 0; i < lines.Length; i++)
                if (!lines[i].TrimStart().StartsWith("///", StringComparison.Ordinal) && uses.IsMatch(lines[i])) hits.Add($"{rel}:{i + 1}");
        }
        Assert.True(hits.Count == 0, "use UNetSignature instead of the names at: " + string.Join("; ", hits));
    }
}
