return Diffusion.Judge.Export.JudgeExportCli.Run(args);
