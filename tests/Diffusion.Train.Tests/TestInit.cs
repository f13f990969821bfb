using System.Runtime.CompilerServices;
using Diffusion.Train.Training;

namespace Diffusion.Train.Tests;

internal static class TestInit
{
    /// <summary>Before libtorch loads: OpenMP threads sleep while waiting (the test machine is shared).</summary>
#pragma warning disable CA2255 // module initializer in a test assembly is intended
    [ModuleInitializer]
    internal static void Init() => TorchSetup.PreferPassiveOpenMpWait();
#pragma warning restore CA2255
}
