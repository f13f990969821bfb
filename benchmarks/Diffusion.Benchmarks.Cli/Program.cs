return Diffusion.Benchmarks.BenchmarksCli.Run(args);
