using Diffusion.Onnx;
using TorchSharp;
using static TorchSharp.torch.nn;

namespace Diffusion.Onnx.Torch;

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

/// <summary>
/// A module of a model that writes its own ONNX nodes, beside its <c>forward</c> and in the same op order, reaching
/// its children through typed references (<see cref="EmitScope.Call(Module, GraphValue[])"/>,
/// <see cref="EmitScope.Enter{T}(Module, Func{EmitScope, T})"/>): the model's structure is then decided once, in its
/// constructor. Torch's own layers have emitters in <see cref="EmitterRegistry"/> instead.
/// </summary>
public interface IOnnxModule
{
    /// <summary>Adds the module's computation to <see cref="EmitScope.Graph"/> and returns its outputs.</summary>
    /// <param name="scope">This module's scope: its path, its children and parameters.</param>
    /// <param name="inputs">Values the module's forward takes, in order.</param>
    GraphValue[] EmitOnnx(EmitScope scope, GraphValue[] inputs);
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

/// <summary>Emitters of torch's layers by module type (<see cref="CreateDefault"/>); a model's own blocks implement <see cref="IOnnxModule"/>.</summary>
public sealed class EmitterRegistry
{
    private readonly Dictionary<Type, IModuleEmitter> byType = [];

    /// <summary>The emitters of the torch layers this project's models use.</summary>
    public static EmitterRegistry CreateDefault() => new EmitterRegistry()
        .Add(new Conv2dEmitter()).Add(new LinearEmitter()).Add(new GroupNormEmitter()).Add(new EmbeddingEmitter())
        .Add(new SiLUEmitter()).Add(new DropoutEmitter()).Add(new SequentialEmitter()).Add(new BatchNorm2dEmitter());

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
/// State of one graph export: the builder, the registry, every module's path in the tree (found by reference, so
/// a model's emitter names its children by field, not by string) and the bookkeeping that proves every module and
/// parameter was used.
/// </summary>
public sealed class ExportContext
{
    private readonly Dictionary<string, GraphValue> memo = new(StringComparer.Ordinal);
    internal readonly HashSet<string> EmittedModules = new(StringComparer.Ordinal);
    internal readonly HashSet<string> ExportedParameters = new(StringComparer.Ordinal);
    internal readonly HashSet<string> ExportedBuffers = new(StringComparer.Ordinal);
    private readonly Dictionary<Module, string> paths = new(ReferenceEqualityComparer.Instance);

    /// <summary>Creates a context writing to <paramref name="graph"/>.</summary>
    public ExportContext(GraphBuilder graph, EmitterRegistry registry) { Graph = graph; Registry = registry; }

    /// <summary>The graph being built.</summary>
    public GraphBuilder Graph { get; }

    /// <summary>Emitters by module type.</summary>
    public EmitterRegistry Registry { get; }

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
        paths.Clear();
        foreach (var (path, m) in Tree(root))
        {
            paths[m] = path;
            if (!EmitterRegistry.IsContainer(m.GetType()) && Registry.Find(m.GetType()) is null && m is not IOnnxModule)
                throw new UnsupportedModuleException(EmitScope.Display(path), $"no ONNX emitter for module type {m.GetType().Name}");
        }
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
        => Enter(path, module, scope => Registry.Find(module.GetType()) is { } emitter ? emitter.Emit(scope, inputs)
            : module is IOnnxModule own ? own.EmitOnnx(scope, inputs)
            : throw new UnsupportedModuleException(EmitScope.Display(path), $"no ONNX emitter for module type {module.GetType().Name}"));

    // the module's bookkeeping (emitted once) and name scope around its nodes
    internal T Enter<T>(string path, Module module, Func<EmitScope, T> emit)
    {
        if (!EmittedModules.Add(path))
            throw new UnsupportedModuleException(EmitScope.Display(path), "module emitted twice");
        using (Graph.PushScope(path))
            return emit(new EmitScope(this, path, module));
    }

    // the path of a module of the tree being exported, by reference
    internal string PathOf(Module module, string parent)
    {
        if (!paths.TryGetValue(module, out var path))
            throw new UnsupportedModuleException(EmitScope.Display(parent), $"a {module.GetType().Name} that is not registered in the exported tree");
        return path;
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

    // a direct child of this module (or an element of a child list, "res.0"), by reference
    private string ChildPath(Module child)
    {
        string path = Context.PathOf(child, Path);
        string rest = Path.Length == 0 ? path : path.StartsWith(Path + ".", StringComparison.Ordinal) ? path[(Path.Length + 1)..] : "";
        if (rest.Length == 0 || rest.Split('.') is not ([_] or [_, _]))
            throw new UnsupportedModuleException(DisplayPath, $"{Display(path)} is not a child of {Module.GetType().Name}");
        return path;
    }

    /// <summary>Emits the child module <paramref name="child"/> (a field of this module, or an element of a child list) on <paramref name="inputs"/>.</summary>
    /// <exception cref="UnsupportedModuleException">Not a child of this module.</exception>
    public GraphValue[] Call(Module child, params GraphValue[] inputs) => Context.Emit(ChildPath(child), child, inputs);

    /// <summary>Emits a child with a single output.</summary>
    public GraphValue Call1(Module child, params GraphValue[] inputs) => Call(child, inputs) is [var only] ? only
        : throw new InvalidOperationException($"{ChildPath(child)}: expected one output.");

    /// <summary>
    /// Emits a child through its own typed method (one that takes more than graph values, e.g. the U-Net's skip list),
    /// with the same bookkeeping and name scope as <see cref="Call(Module, GraphValue[])"/>.
    /// </summary>
    public T Enter<T>(Module child, Func<EmitScope, T> emit) => Context.Enter(ChildPath(child), child, emit);

    /// <summary>Memoised value of the export (<see cref="ExportContext.Memo"/>).</summary>
    public GraphValue Memo(string key, Func<GraphValue> make) => Context.Memo(key, make);

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
