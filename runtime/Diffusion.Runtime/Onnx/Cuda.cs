using System.Runtime.InteropServices;

namespace Diffusion.Runtime.Onnx;

/// <summary>
/// The CUDA libraries that ONNX Runtime's CUDA execution provider needs (Microsoft.ML.OnnxRuntime.Gpu 1.31: CUDA 13,
/// cuDNN 9), a probe that names the missing ones before a session is made, and the few CUDA runtime calls the
/// device batches use (device buffers and the copies to and from them).
/// </summary>
public static class Cuda
{
    /// <summary>One shared library the CUDA execution provider loads, and what provides it.</summary>
    /// <param name="File">The soname dlopen looks for.</param>
    /// <param name="Provides">What installs it: the Debian / NVIDIA package and the Python wheel that carry it.</param>
    public readonly record struct Library(string File, string Provides);

    /// <summary>
    /// What <c>libonnxruntime_providers_cuda.so</c> of ONNX Runtime 1.31 needs (its NEEDED entries, plus cuDNN, which it
    /// loads when the first convolution runs), in the order they are reported.
    /// </summary>
    public static IReadOnlyList<Library> Required { get; } =
    [
        new("libcuda.so.1", "the NVIDIA driver"),
        new("libcudart.so.13", "the CUDA 13 runtime (cuda-cudart-13-0, or the nvidia-cuda-runtime wheel)"),
        new("libcublasLt.so.13", "cuBLAS 13 (libcublas-13-0, or the nvidia-cublas wheel)"),
        new("libcublas.so.13", "cuBLAS 13 (libcublas-13-0, or the nvidia-cublas wheel)"),
        new("libcurand.so.10", "cuRAND for CUDA 13 (libcurand-13-0, or the nvidia-curand wheel)"),
        new("libcudnn.so.9", "cuDNN 9 for CUDA 13 (cudnn9-cuda-13, or the nvidia-cudnn-cu13 wheel)"),
    ];

    /// <summary>The libraries of <see cref="Required"/> that the dynamic loader cannot open in this process.</summary>
    /// <param name="canLoad">The loader to ask (default: <see cref="NativeLibrary.TryLoad(string, out IntPtr)"/>, which
    /// searches LD_LIBRARY_PATH and the system's library folders as dlopen does).</param>
    public static IReadOnlyList<Library> MissingLibraries(Func<string, bool>? canLoad = null)
    {
        canLoad ??= TryLoad;
        return [.. Required.Where(l => !canLoad(l.File))];
    }

    private static bool TryLoad(string file)
    {
        if (!NativeLibrary.TryLoad(file, out var handle)) return false;
        NativeLibrary.Free(handle);
        return true;
    }

    /// <summary>
    /// One line for a machine where <paramref name="missing"/> cannot be loaded: what is missing and what to install.
    /// </summary>
    public static string MissingMessage(string device, IReadOnlyList<Library> missing)
    {
        string names = string.Join(", ", missing.Select(l => l.File));
        string what = string.Join("; ", missing.GroupBy(l => l.Provides).Select(g => $"{g.Key} for {string.Join(", ", g.Select(l => l.File))}"));
        return $"--device {device}: the CUDA libraries {names} cannot be loaded. Install {what}; " +
               "or put their folder on LD_LIBRARY_PATH, or use --device cpu.";
    }

    /// <summary>
    /// Checks that CUDA can start on <paramref name="deviceId"/>: every library of <see cref="Required"/> loads and the
    /// driver sees a GPU with that ordinal.
    /// </summary>
    /// <exception cref="InvalidInputException">A library is missing or there is no such GPU; one line saying which.</exception>
    public static void EnsureAvailable(int deviceId)
    {
        string device = deviceId == 0 ? "cuda" : $"cuda:{deviceId}";
        var missing = MissingLibraries();
        if (missing.Count > 0) throw new InvalidInputException(MissingMessage(device, missing));
        int err = Native.cudaGetDeviceCount(out int count);
        if (err != 0) throw new InvalidInputException($"--device {device}: CUDA cannot start ({ErrorString(err)}); check the NVIDIA driver (nvidia-smi), or use --device cpu.");
        if (deviceId >= count) throw new InvalidInputException($"--device {device}: this machine has {count} CUDA GPU(s); expected an ordinal below {count}.");
    }

    /// <summary>The CUDA runtime's name for an error code.</summary>
    public static string ErrorString(int error)
    {
        try { return $"{Marshal.PtrToStringAnsi(Native.cudaGetErrorString(error))} ({error})"; }
        catch (DllNotFoundException) { return $"CUDA error {error}"; }
    }

    internal static void Check(int error, string what)
    {
        if (error != 0) throw new InvalidOperationException($"CUDA {what} failed: {ErrorString(error)}.");
    }

    /// <summary>Device memory owned by the caller (cudaMalloc / cudaFree).</summary>
    internal sealed class DeviceBuffer : IDisposable
    {
        public DeviceBuffer(int deviceId, long bytes)
        {
            Bytes = bytes;
            Check(Native.cudaSetDevice(deviceId), $"cudaSetDevice({deviceId})");
            Check(Native.cudaMalloc(out var ptr, (nuint)Math.Max(bytes, 1)), $"cudaMalloc({bytes} bytes)");
            Pointer = ptr;
        }

        public IntPtr Pointer { get; private set; }
        public long Bytes { get; }

        public void Dispose()
        {
            if (Pointer == IntPtr.Zero) return;
            _ = Native.cudaFree(Pointer);
            Pointer = IntPtr.Zero;
        }
    }

    /// <summary>Host to device copy of <paramref name="bytes"/> from pinned host memory.</summary>
    internal static void Upload(IntPtr device, IntPtr host, long bytes) =>
        Check(Native.cudaMemcpy(device, host, (nuint)bytes, Native.HostToDevice), "host-to-device copy");

    /// <summary>Device to host copy of <paramref name="bytes"/> into pinned host memory.</summary>
    internal static void Download(IntPtr host, IntPtr device, long bytes) =>
        Check(Native.cudaMemcpy(host, device, (nuint)bytes, Native.DeviceToHost), "device-to-host copy");

    /// <summary>Waits for every copy and kernel on the device (the uploads must land before ONNX Runtime's stream reads them).</summary>
    internal static void Synchronize() => Check(Native.cudaDeviceSynchronize(), "cudaDeviceSynchronize");

    // The CUDA runtime's C API; the CUDA execution provider has loaded the same library into the process.
    private static class Native
    {
        private const string Lib = "libcudart.so.13";
        public const int HostToDevice = 1, DeviceToHost = 2;
        [DllImport(Lib)] public static extern int cudaGetDeviceCount(out int count);
        [DllImport(Lib)] public static extern int cudaSetDevice(int device);
        [DllImport(Lib)] public static extern int cudaMalloc(out IntPtr ptr, nuint size);
        [DllImport(Lib)] public static extern int cudaFree(IntPtr ptr);
        [DllImport(Lib)] public static extern int cudaMemcpy(IntPtr dst, IntPtr src, nuint count, int kind);
        [DllImport(Lib)] public static extern int cudaDeviceSynchronize();
        [DllImport(Lib)] public static extern IntPtr cudaGetErrorString(int error);
    }
}
