using Diffusion.Experiments;
using Diffusion.Train.Cli;
using Diffusion.Tools.Cli;

// Ctrl+C once: finish the current training step, save a resumable checkpoint and exit; twice: exit at once.
using var cts = CliHost.CancelOnCtrlC();
return ExperimentsCli.Run(args, cancel: cts.Token);
