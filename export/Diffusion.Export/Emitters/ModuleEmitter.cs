using Diffusion.Onnx;
using TorchSharp;
using static TorchSharp.torch.nn;

namespace Diffusion.Export.Emitters;

/// <summary>Writes the ONNX nodes of one TorchSharp module type.</summary>
public interface IModuleEmitter
{
    /// <summary>The exact module type this emitter handles.</summary>
    Type ModuleType { get; }

    /// <summary>Adds the module's computation to <see cref="EmitScope.Graph"/> and returns its outputs.</summary>
    /// <param name="scope">The module, its path in the tree and access to its children and parameters.</param>
    /// <param name="inputs">Values the module's forward takes, in order.</param>
    GraphValue[] Emit(EmitScope scope, GraphValue[] inputs);
}

/// <summary>Base class of emitters for <typeparamref name="TModule"/>: mirrors that module's <c>forward</c>, in the same op order.</summary>
public abstract class ModuleEmitter<TModule> : IModuleEmitter where TModule : Module
{
    /// <inheritdoc/>
    public Type ModuleType => typeof(TModule);

    /// <inheritdoc/>
    public GraphValue[] Emit(EmitScope scope, GraphValue[] inputs)
    {
        if (inputs.Length != InputCount)
            throw new InvalidOperationException($"{scope.DisplayPath}: {typeof(TModule).Name} takes {InputCount} inputs, got {inputs.Length}.");
        return Emit(scope, (TModule)scope.Module, inputs);
    }

    /// <summary>Number of inputs of the module's forward.</summary>
    protected virtual int InputCount => 1;

    /// <summary>Adds the nodes for <paramref name="module"/>.</summary>
    protected abstract GraphValue[] Emit(EmitScope scope, TModule module, GraphValue[] inputs);
}

/// <summary>An export stopped at a module it cannot translate; <see cref="Exception.Message"/> starts with the module's path.</summary>
public sealed class UnsupportedModuleException : InvalidOperationException
{
    /// <summary>Creates the exception for the module at <paramref name="path"/>.</summary>
    public UnsupportedModuleException(string path, string message) : base($"{path}: {message}") => ModulePath = path;

    /// <summary>Dotted path of the module in the tree ("down.1.res.0.foo"), "(root)" for the top module.</summary>
    public string ModulePath { get; }
}

/// <summary>Emitters by module type. <see cref="CreateDefault"/> holds one per module type of the U-Net.</summary>
public sealed class EmitterRegistry
{
    private readonly Dictionary<Type, IModuleEmitter> byType = [];

    /// <summary>All emitters of this project: torch layers and the U-Net's own blocks.</summary>
    public static EmitterRegistry CreateDefault() => new EmitterRegistry()
        .Add(new Conv2dEmitter()).Add(new LinearEmitter()).Add(new GroupNormEmitter()).Add(new EmbeddingEmitter())
        .Add(new SiLUEmitter()).Add(new DropoutEmitter()).Add(new SequentialEmitter())
        .Add(new ResBlockEmitter()).Add(new AttentionBlockEmitter()).Add(new DownsampleEmitter()).Add(new UpsampleEmitter())
        .Add(new MidBlockEmitter()).Add(new DownLevelEmitter()).Add(new UpLevelEmitter()).Add(new UNetEmitter());

    /// <summary>Registers (or replaces) the emitter for its module type.</summary>
    public EmitterRegistry Add(IModuleEmitter emitter)
    {
        byType[emitter.ModuleType] = emitter;
        return this;
    }

    /// <summary>Removes the emitter for <paramref name="moduleType"/> (tests use it to check the error for unknown types).</summary>
    public EmitterRegistry Remove(Type moduleType)
    {
        byType.Remove(moduleType);
        return this;
    }

    /// <summary>The emitter for exactly <paramref name="moduleType"/>, or null.</summary>
    public IModuleEmitter? Find(Type moduleType) => byType.GetValueOrDefault(moduleType);

    /// <summary>True for module lists: containers whose elements the parent's emitter indexes ("res.0").</summary>
    public static bool IsContainer(Type t) => t.IsGenericType && t.GetGenericTypeDefinition() == typeof(TorchSharp.Modules.ModuleList<>);
}

/// <summary>
/// State of one graph export: the builder, the registry, the U-Net skip stack (the graph's counterpart of
/// <c>UNet.forward</c>'s <c>hs</c> list) and the bookkeeping that proves every module and parameter was used.
/// </summary>
public sealed class ExportContext
{
    private readonly Dictionary<string, GraphValue> memo = new(StringComparer.Ordinal);
    internal readonly HashSet<string> EmittedModules = new(StringComparer.Ordinal);
    internal readonly HashSet<string> ExportedParameters = new(StringComparer.Ordinal);
    internal readonly HashSet<string> ExportedBuffers = new(StringComparer.Ordinal);

    /// <summary>Creates a context writing to <paramref name="graph"/>.</summary>
    public ExportContext(GraphBuilder graph, EmitterRegistry registry) { Graph = graph; Registry = registry; }

    /// <summary>The graph being built.</summary>
    public GraphBuilder Graph { get; }

    /// <summary>Emitters by module type.</summary>
    public EmitterRegistry Registry { get; }

    /// <summary>Skip connections pushed by the down path and popped by the up path.</summary>
    public List<GraphValue> Skips { get; } = [];

    /// <summary>
    /// A value computed once per graph and reused (e.g. SiLU of the shared embedding, which every residual block
    /// applies to the same tensor: the same numbers, fewer nodes).
    /// </summary>
    public GraphValue Memo(string key, Func<GraphValue> make)
    {
        if (!memo.TryGetValue(key, out var v)) memo[key] = v = make();
        return v;
    }

    /// <summary>
    /// Emits <paramref name="root"/> (path "") on <paramref name="inputs"/>. Before adding anything it checks that
    /// every module in the tree has an emitter; afterwards that every module and parameter was used exactly once.
    /// </summary>
    /// <exception cref="UnsupportedModuleException">A module type without emitter, or a module or parameter its parent's emitter ignored; the message names its path.</exception>
    public GraphValue[] EmitRoot(Module root, params GraphValue[] inputs)
    {
        foreach (var (path, m) in Tree(root))
            if (!EmitterRegistry.IsContainer(m.GetType()) && Registry.Find(m.GetType()) is null)
                throw new UnsupportedModuleException(EmitScope.Display(path), $"no ONNX emitter for module type {m.GetType().Name}");
        var outputs = Emit("", root, inputs);
        foreach (var (path, m) in Tree(root))
            if (!EmitterRegistry.IsContainer(m.GetType()) && !EmittedModules.Contains(path))
                throw new UnsupportedModuleException(EmitScope.Display(path), $"module of type {m.GetType().Name} is not used by its parent's ONNX emitter");
        foreach (var (name, _) in root.named_parameters())
            if (!ExportedParameters.Contains(name))
                throw new UnsupportedModuleException(name, "parameter not written by its module's ONNX emitter");
        foreach (var (name, _) in root.named_buffers())
            if (!ExportedBuffers.Contains(name))
                throw new UnsupportedModuleException(name, "buffer (running statistics and the like) not written by its module's ONNX emitter");
        return outputs;
    }

    /// <summary>Every module of the tree with its dotted path, root first ("" for the root), in registration order.</summary>
    public static IEnumerable<(string Path, Module Module)> Tree(Module root)
    {
        yield return ("", root);
        foreach (var (name, child) in root.named_children())
            foreach (var (p, m) in Tree(child))
                yield return (p.Length == 0 ? name : $"{name}.{p}", m);
    }

    internal GraphValue[] Emit(string path, Module module, GraphValue[] inputs)
    {
        var emitter = Registry.Find(module.GetType())
            ?? throw new UnsupportedModuleException(EmitScope.Display(path), $"no ONNX emitter for module type {module.GetType().Name}");
        if (!EmittedModules.Add(path))
            throw new UnsupportedModuleException(EmitScope.Display(path), "module emitted twice");
        using (Graph.PushScope(path))
            return emitter.Emit(new EmitScope(this, path, module), inputs);
    }
}

/// <summary>What an emitter sees: its module, its path, its children (by relative dotted name) and its parameters.</summary>
public sealed class EmitScope
{
    internal EmitScope(ExportContext context, string path, Module module) { Context = context; Path = path; Module = module; }

    /// <summary>The export state.</summary>
    public ExportContext Context { get; }

    /// <summary>Dotted path of the module ("" for the root).</summary>
    public string Path { get; }

    /// <summary>The module.</summary>
    public Module Module { get; }

    /// <summary>The graph being built.</summary>
    public GraphBuilder Graph => Context.Graph;

    /// <summary><see cref="Path"/> for messages: "(root)" for the root.</summary>
    public string DisplayPath => Display(Path);

    internal static string Display(string path) => path.Length == 0 ? "(root)" : path;

    private string Join(string child) => Path.Length == 0 ? child : $"{Path}.{child}";

    private Module? Find(string child)
    {
        Module? m = Module;
        foreach (var part in child.Split('.'))
            m = m?.named_children().FirstOrDefault(c => c.name == part).module;
        return m;
    }

    /// <summary>True when the child (e.g. "skip", "res.1") is registered.</summary>
    public bool Has(string child) => Find(child) is not null;

    /// <summary>Number of children of the child container <paramref name="child"/> (0 when absent).</summary>
    public int Count(string child) => Find(child)?.named_children().Count() ?? 0;

    /// <summary>Emits the child module <paramref name="child"/> on <paramref name="inputs"/>.</summary>
    /// <exception cref="UnsupportedModuleException">No such child.</exception>
    public GraphValue[] Call(string child, params GraphValue[] inputs)
    {
        var m = Find(child) ?? throw new UnsupportedModuleException(Join(child), $"{Module.GetType().Name} has no child module '{child}'");
        return Context.Emit(Join(child), m, inputs);
    }

    /// <summary>Emits a child with a single output.</summary>
    public GraphValue Call1(string child, params GraphValue[] inputs) => Call(child, inputs) is [var only] ? only
        : throw new InvalidOperationException($"{Join(child)}: expected one output.");

    /// <summary>True when the module has its own parameter <paramref name="name"/> (e.g. a bias).</summary>
    public bool HasParameter(string name) => Module.named_parameters(recurse: false).Any(p => p.name == name);

    /// <summary>
    /// Writes the module's parameter <paramref name="name"/> as a float32 initializer named by its state_dict key
    /// ("down.0.res.0.conv1.weight"), optionally with a new shape of the same size (GroupNorm's [C] as [C, 1, 1]).
    /// </summary>
    public GraphValue Parameter(string name, params long[] dims)
    {
        var p = Module.named_parameters(recurse: false).FirstOrDefault(q => q.name == name).parameter
            ?? throw new UnsupportedModuleException(DisplayPath, $"{Module.GetType().Name} has no parameter '{name}'");
        string key = Join(name);
        if (!Context.ExportedParameters.Add(key)) throw new UnsupportedModuleException(key, "parameter written twice");
        long[] shape = dims.Length > 0 ? dims : p.shape;
        if (shape.Aggregate(1L, (a, b) => a * b) != p.numel())
            throw new InvalidOperationException($"{key}: cannot write [{string.Join(",", p.shape)}] as [{string.Join(",", shape)}].");
        return Graph.Initializer(key, TorchTensors.ToFloatArray(p), shape);
    }

    /// <summary>
    /// Writes the module's buffer <paramref name="name"/> (e.g. BatchNorm's "running_mean") as a float32 initializer
    /// named by its state_dict key, like <see cref="Parameter"/>; buffers no emitter writes stop the export.
    /// </summary>
    public GraphValue Buffer(string name, params long[] dims)
    {
        var b = Module.named_buffers(recurse: false).FirstOrDefault(q => q.name == name).buffer
            ?? throw new UnsupportedModuleException(DisplayPath, $"{Module.GetType().Name} has no buffer '{name}'");
        string key = Join(name);
        if (!Context.ExportedBuffers.Add(key)) throw new UnsupportedModuleException(key, "buffer written twice");
        long[] shape = dims.Length > 0 ? dims : b.shape;
        if (shape.Aggregate(1L, (a, c) => a * c) != b.numel())
            throw new InvalidOperationException($"{key}: cannot write [{string.Join(",", b.shape)}] as [{string.Join(",", shape)}].");
        return Graph.Initializer(key, TorchTensors.ToFloatArray(b), shape);
    }

    /// <summary>Declares that inference does not read the module's buffer <paramref name="name"/> (BatchNorm's "num_batches_tracked").</summary>
    public void SkipBuffer(string name)
    {
        if (!Module.named_buffers(recurse: false).Any(q => q.name == name))
            throw new UnsupportedModuleException(DisplayPath, $"{Module.GetType().Name} has no buffer '{name}'");
        if (!Context.ExportedBuffers.Add(Join(name))) throw new UnsupportedModuleException(Join(name), "buffer written twice");
    }
}
