using Diffusion.Train.Cli;

// Ctrl+C once: finish the current step, save a resumable checkpoint and exit; twice: exit at once.
using var cts = CommandLineHost.CancelOnCtrlC();
return TrainCli.Run(args, cancel: cts.Token);
